package main

import (
	"context"
	"os"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/signing"
)

// signingCertificate prints the CA certificate of the registry's signing key (made on first use), the one
// a verifier trusts: notation cert add --type ca --store wharf wharf-ca.pem.
func signingCertificate(args []string) error {
	fs, c := commonFlags("signing certificate")
	_, app, err := c.parseAndOpen(fs, args)
	if err != nil {
		return err
	}
	defer app.Close()
	acct := c.accountID
	return do(app, acct, "wharf:GetSigningCertificate", []pipeline.Target{pipeline.Repository("ecr:GetSigningConfiguration", acct, "")}, func(ctx context.Context) error {
		key, err := app.SigningKeys.Get(ctx, acct)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(signing.EncodeCertificates(key.Chain[len(key.Chain)-1:]))
		return err
	})
}
