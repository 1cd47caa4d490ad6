// Loads a Compose file the way `docker compose config` does (compose-go), with the
// environment of the caller, and prints the services it found; exits 1 on any error.
// With -env it prints instead one line per environment variable of each service,
// "service NAME", as compose-go resolved them (merged anchors included); never a value.
// With -secrets it prints one line per secret a service mounts, "service SECRET SOURCE",
// SOURCE being the environment variable the secret is made from.
// With -scripts SERVICE it prints that service's entrypoint and health check as compose-go
// resolved them (`$$` unescaped), as JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	env := flag.Bool("env", false, "print each service's environment variable names")
	secrets := flag.Bool("secrets", false, "print each service's secrets and their variables")
	scripts := flag.String("scripts", "", "print this service's entrypoint and health check")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: composecheck [-env | -secrets | -scripts SERVICE] docker-compose.yml")
		os.Exit(2)
	}
	options, err := cli.NewProjectOptions(
		[]string{flag.Arg(0)},
		cli.WithOsEnv,
		cli.WithName("userstream"),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *scripts != "" {
		service, ok := project.Services[*scripts]
		if !ok {
			fmt.Fprintln(os.Stderr, "no service", *scripts)
			os.Exit(1)
		}
		var check []string
		if service.HealthCheck != nil {
			check = service.HealthCheck.Test
		}
		out, _ := json.Marshal(map[string][]string{
			"entrypoint": service.Entrypoint, "healthcheck": check,
		})
		fmt.Println(string(out))
		return
	}
	for _, name := range project.ServiceNames() {
		if *secrets {
			for _, secret := range project.Services[name].Secrets {
				fmt.Println(name, secret.Source, project.Secrets[secret.Source].Environment)
			}
			continue
		}
		if !*env {
			fmt.Println(name)
			continue
		}
		service := project.Services[name]
		keys := make([]string, 0, len(service.Environment))
		for key := range service.Environment {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			fmt.Println(name, key)
		}
	}
}
