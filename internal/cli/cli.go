// Package cli holds what the commands share: subcommand dispatch and exit codes.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Command is one subcommand.
type Command struct {
	Name    string
	Summary string
	Hidden  bool // internal subcommands, not listed in usage
	Run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// ErrUsage marks a usage error (exit code 2); the usage has been printed already.
var ErrUsage = errors.New("usage")

// ErrHelp is returned when -h or --help was asked for: the usage has been
// printed, nothing else runs, and the exit code is 0.
var ErrHelp = flag.ErrHelp

// Dispatch runs the subcommand named by args[0].
func Dispatch(ctx context.Context, prog string, cmds []Command, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(prog, cmds, stderr)
		if len(args) == 0 {
			return ErrUsage
		}
		return nil
	}
	for _, c := range cmds {
		if c.Name == args[0] {
			return c.Run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(prog, cmds, stderr)
	return fmt.Errorf("%w: unknown command %q", ErrUsage, args[0])
}

func usage(prog string, cmds []Command, w io.Writer) {
	fmt.Fprintf(w, "usage: %s <command> [flags]\n\ncommands:\n", prog)
	sorted := append([]Command(nil), cmds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, c := range sorted {
		if !c.Hidden {
			fmt.Fprintf(w, "  %-12s %s\n", c.Name, c.Summary)
		}
	}
	fmt.Fprintf(w, "\nRun '%s <command> -h' for a command's flags.\n", prog)
}

// ParseFlags parses args with fs, printing errors and usage to stderr; a bad flag is ErrUsage,
// -h is ErrHelp (the caller returns it as it is).
func ParseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ErrHelp
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments: %s", ErrUsage, strings.Join(fs.Args(), " "))
	}
	return nil
}

// ExitCode maps an error to the process exit code: 0 ok, 2 usage, 1 anything else.
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	default:
		return 1
	}
}
