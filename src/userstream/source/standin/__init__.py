"""The local stand-in for the Random User API: its server, its generated people, its faults."""
