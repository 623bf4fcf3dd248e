// Command samsa is the whole samsa system in one binary: the broker
// (`samsa serve`), the operator CLI and the tunnel. Each subcommand lives in
// its own file and registers itself with register in an init function.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand: args exclude the subcommand name; the return
// value is the process exit code.
type command struct {
	summary string
	run     func(args []string) int
}

var commands = map[string]command{}

// interruptible adapts a command body that takes a context (cancelled on
// Ctrl-C or SIGTERM) and its output streams to a command's run function.
func interruptible(body func(ctx context.Context, args []string, stdout, stderr io.Writer) int) func([]string) int {
	return func(args []string) int {
		ctx, stop := interruptContext()
		defer stop()
		return body(ctx, args, os.Stdout, os.Stderr)
	}
}

// register adds a subcommand. It is called from init functions only.
func register(name, summary string, run func(args []string) int) {
	if _, dup := commands[name]; dup {
		panic("samsa: duplicate command " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: samsa <command> [arguments]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
}

func main() {
	if len(os.Args) < 2 {
		// No arguments: the embedded default, one node on 127.0.0.1:9092.
		os.Exit(commands["serve"].run(nil))
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		usage()
		os.Exit(0)
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "samsa: unknown command %q\n", name)
		usage()
		os.Exit(2)
	}
	os.Exit(c.run(os.Args[2:]))
}
