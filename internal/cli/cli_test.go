package cli

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

// A command asked for -h prints its flags and does not run.
func TestHelpDoesNotRun(t *testing.T) {
	ran := false
	cmd := Command{Name: "go", Run: func(_ context.Context, args []string, _, stderr io.Writer) error {
		fs := flag.NewFlagSet("x go", flag.ContinueOnError)
		fs.Int("n", 5, "repeats")
		if err := ParseFlags(fs, args, stderr); err != nil {
			return err
		}
		ran = true
		return nil
	}}
	for _, args := range [][]string{{"go", "-h"}, {"go", "--help"}, {"go", "-n", "3", "-help"}} {
		ran = false
		var stderr strings.Builder
		err := Dispatch(context.Background(), "x", []Command{cmd}, args, io.Discard, &stderr)
		if !errors.Is(err, ErrHelp) || ExitCode(err) != 0 || ran || !strings.Contains(stderr.String(), "repeats") {
			t.Errorf("%q: err %v (exit %d), ran %v, usage %q; want ErrHelp, exit 0, not run, the flags printed", args, err, ExitCode(err), ran, stderr.String())
		}
	}
	var stderr strings.Builder
	if err := Dispatch(context.Background(), "x", []Command{cmd}, []string{"go", "-bogus"}, io.Discard, &stderr); ExitCode(err) != 2 || ran {
		t.Errorf("bad flag: err %v (exit %d), ran %v; want a usage error, exit 2", err, ExitCode(err), ran)
	}
	if err := Dispatch(context.Background(), "x", []Command{cmd}, []string{"go", "-n", "3"}, io.Discard, io.Discard); err != nil || !ran {
		t.Errorf("good flags: err %v, ran %v", err, ran)
	}
}
