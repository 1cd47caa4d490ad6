from userstream.cli import main

main()
