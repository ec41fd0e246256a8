package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"herenow/users"
)

const userUsage = "usage: herenow user add|passwd|delete NAME, herenow user rename NAME NEWNAME, or herenow user list"

// runUserCommand manages accounts: herenow user add|passwd|delete NAME,
// herenow user rename NAME NEWNAME, or herenow user list. A password is
// never taken from the command line.
func runUserCommand(ctx context.Context, store *users.Store, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if args[0] != "user" || len(args) < 2 {
		return errors.New(userUsage)
	}
	switch verb := args[1]; {
	case verb == "list" && len(args) == 2:
		list, err := store.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED")
		for _, u := range list {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", u.ID, u.Name, u.Created.Format(time.DateTime))
		}
		return tw.Flush()
	case verb == "delete" && len(args) == 3:
		if err := store.Delete(ctx, args[2]); err != nil {
			return fmt.Errorf("delete %q: %w", args[2], err)
		}
		fmt.Fprintf(stdout, "deleted %s and ended %s's sessions\n", args[2], args[2])
		return nil
	case verb == "rename" && len(args) == 4:
		if err := store.Rename(ctx, args[2], args[3]); err != nil {
			return fmt.Errorf("rename %q: %w", args[2], err)
		}
		fmt.Fprintf(stdout, "renamed %s and ended their sessions: they sign in again as %s\n", args[2], args[3])
		return nil
	case (verb == "add" || verb == "passwd") && len(args) == 3:
		name := args[2]
		password, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		if verb == "add" {
			u, err := store.Add(ctx, name, password)
			if err != nil {
				return fmt.Errorf("add %q: %w", name, err)
			}
			fmt.Fprintf(stdout, "added %s\n", u.Name) // as kept: fullwidth letters mapped, NFC
			return nil
		}
		if err := store.SetPassword(ctx, name, password); err != nil {
			return fmt.Errorf("set password of %q: %w", name, err)
		}
		fmt.Fprintf(stdout, "changed the password of %s and ended %s's sessions: every browser signed in as %s must sign in again\n", name, name, name)
		return nil
	default:
		return errors.New(userUsage)
	}
}

// readPassword asks twice on a terminal; otherwise it reads the first line
// of stdin, so scripts can pipe a password in.
func readPassword(stdin io.Reader, prompt io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(prompt, "Again: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(first) != string(second) {
			return "", errors.New("the passwords differ")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("read password from stdin: no password given")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
