package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/server"
)

// adminCreateLoginProfile gives a user a console password: read from stdin, or generated and printed.
func adminCreateLoginProfile(args []string) error {
	fs, c := adminFlags("create-login-profile")
	fromStdin := fs.Bool("password-stdin", false, "read the password from stdin (else a random one is generated and printed)")
	reset := fs.Bool("password-reset-required", false, "the user must choose a new password at the first sign-in")
	pos, err := parseArgs(fs, args, "USER")
	if err != nil {
		return err
	}
	var password string
	if *fromStdin {
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 4096))
		if err != nil {
			return err
		}
		password = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	user := pos[0]
	var p *identity.LoginProfile
	err = c.onEntity("iam:CreateLoginProfile", "user/"+user, func(ctx context.Context, app *server.App, acct string) error {
		if !*fromStdin { // long enough for the account's policy; every kind of character
			n := 0
			if pol, err := app.Identity.PasswordPolicy(ctx, acct); err == nil {
				n = pol.MinimumLength
			} else if !errors.Is(err, identity.ErrNotFound) {
				return err
			}
			password = identity.GeneratePassword(n)
		}
		var err error
		p, err = app.Identity.CreateLoginProfile(ctx, acct, user, password, *reset)
		return err
	})
	if err != nil {
		return err
	}
	out := map[string]any{"UserName": p.UserName, "PasswordResetRequired": p.ResetRequired}
	if !*fromStdin {
		out["Password"] = password // shown once
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func adminDeleteLoginProfile(args []string) error {
	fs, c := adminFlags("delete-login-profile")
	pos, err := parseArgs(fs, args, "USER")
	if err != nil {
		return err
	}
	return c.onEntity("iam:DeleteLoginProfile", "user/"+pos[0], func(ctx context.Context, app *server.App, acct string) error {
		return app.Identity.DeleteLoginProfile(ctx, acct, pos[0])
	})
}

func adminCreateAccountAlias(args []string) error {
	fs, c := adminFlags("create-account-alias")
	pos, app, err := c.parseAndOpen(fs, args, "ALIAS")
	if err != nil {
		return err
	}
	defer app.Close()
	acct := c.accountID
	return do(app, acct, "iam:CreateAccountAlias", []pipeline.Target{{Action: "iam:CreateAccountAlias", Resource: "*"}}, func(ctx context.Context) error {
		return app.Identity.CreateAccountAlias(ctx, acct, pos[0])
	})
}
