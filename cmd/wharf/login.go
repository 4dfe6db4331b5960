package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/server"
)

// newPassword is the password a login profile command sets: read from stdin, or generated long enough for
// the account's policy, with every kind of character. generated tells the latter, to print it once.
func newPassword(ctx context.Context, app *server.App, acct string, fromStdin bool) (password string, generated bool, err error) {
	if fromStdin {
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 4096))
		if err != nil {
			return "", false, err
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), false, nil
	}
	n := 0
	if pol, err := app.Identity.PasswordPolicy(ctx, acct); err == nil {
		n = pol.MinimumLength
	} else if !errors.Is(err, identity.ErrNotFound) {
		return "", false, err
	}
	return identity.GeneratePassword(n), true, nil
}

// printProfile prints a login profile as the IAM API's members, with a generated password shown once.
func printProfile(user string, reset bool, password string) error {
	out := map[string]any{"UserName": user, "PasswordResetRequired": reset}
	if password != "" {
		out["Password"] = password
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// adminCreateLoginProfile gives a user a console password: read from stdin, or generated and printed.
func adminCreateLoginProfile(args []string) error {
	fs, c := adminFlags("create-login-profile")
	fromStdin := fs.Bool("password-stdin", false, "read the password from stdin (else a random one is generated and printed)")
	reset := fs.Bool("password-reset-required", false, "the user must choose a new password at the first sign-in")
	pos, err := parseArgs(fs, args, "USER")
	if err != nil {
		return err
	}
	user := pos[0]
	var shown string
	var p *identity.LoginProfile
	err = c.onEntity("iam:CreateLoginProfile", "user/"+user, func(ctx context.Context, app *server.App, acct string) error {
		password, generated, err := newPassword(ctx, app, acct, *fromStdin)
		if err != nil {
			return err
		}
		if generated {
			shown = password
		}
		p, err = app.Identity.CreateLoginProfile(ctx, acct, user, password, *reset)
		return err
	})
	if err != nil {
		return err
	}
	return printProfile(p.UserName, p.ResetRequired, shown)
}

// adminUpdateLoginProfile sets a user's console password (from stdin, or generated and printed) and
// whether it must be changed at the next sign-in; with --keep-password only the latter.
func adminUpdateLoginProfile(args []string) error {
	fs, c := adminFlags("update-login-profile")
	fromStdin := fs.Bool("password-stdin", false, "read the new password from stdin (else a random one is generated and printed)")
	keep := fs.Bool("keep-password", false, "keep the password; change only --password-reset-required")
	reset := fs.Bool("password-reset-required", false, "the user must choose a new password at the next sign-in")
	pos, err := parseArgs(fs, args, "USER")
	if err != nil {
		return err
	}
	user := pos[0]
	var shown string
	err = c.onEntity("iam:UpdateLoginProfile", "user/"+user, func(ctx context.Context, app *server.App, acct string) error {
		var pw *string
		if !*keep {
			password, generated, err := newPassword(ctx, app, acct, *fromStdin)
			if err != nil {
				return err
			}
			if generated {
				shown = password
			}
			pw = &password
		}
		return app.Identity.UpdateLoginProfile(ctx, acct, user, pw, reset)
	})
	if err != nil {
		return err
	}
	return printProfile(user, *reset, shown)
}

// adminGetLoginProfile tells whether a user has a console password, as GetLoginProfile does.
func adminGetLoginProfile(args []string) error {
	fs, c := adminFlags("get-login-profile")
	pos, err := parseArgs(fs, args, "USER")
	if err != nil {
		return err
	}
	var p *identity.LoginProfile
	err = c.onEntity("iam:GetLoginProfile", "user/"+pos[0], func(ctx context.Context, app *server.App, acct string) (err error) {
		p, err = app.Identity.GetLoginProfile(ctx, acct, pos[0])
		return err
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"UserName": p.UserName,
		"CreateDate": p.CreatedAt.UTC().Format(time.RFC3339), "PasswordResetRequired": p.ResetRequired})
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
