package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/sbom"
	"github.com/wharf-dev/wharf/internal/server"
)

// sbomFlags are the flags of the sbom commands: the image and the format.
type sbomFlags struct {
	repository, tag, digest, format string
}

func (f *sbomFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&f.repository, "repository", "", "the image's repository (required)")
	fs.StringVar(&f.tag, "image-tag", "", "the image's tag")
	fs.StringVar(&f.digest, "image-digest", "", "the image's digest (sha256:…)")
	fs.StringVar(&f.format, "format", "spdx", "the document's format: spdx (SPDX 2.3 JSON) or cyclonedx (CycloneDX 1.5 JSON)")
}

// check reads the flags: the image they name and the format.
func (f *sbomFlags) check(fs *flag.FlagSet) (registry.ImageRef, sbom.Format, error) {
	var ref registry.ImageRef
	if err := required(fs, "repository", f.repository); err != nil {
		return ref, "", err
	}
	if f.tag == "" && f.digest == "" {
		return ref, "", usageError(fs, "missing --image-tag or --image-digest")
	}
	ref.Tag = f.tag
	if f.digest != "" {
		d, err := registry.ParseDigest(f.digest)
		if err != nil {
			return ref, "", usageError(fs, "--image-digest: %v", err)
		}
		ref.Digest = d
	}
	format, err := sbom.ParseFormat(f.format)
	if err != nil {
		return ref, "", usageError(fs, "--format: %v", err)
	}
	return ref, format, nil
}

// sbomCommand opens the installation and runs fn for the image the flags name, as the ECR API's operation op
// (GetImageSbom, AttachImageSbom) does: authorized on the repository for each of actions.
func sbomCommand(name string, args []string, op string, actions []string, fn func(ctx context.Context, app *server.App, acct string, f *sbomFlags, ref registry.ImageRef, format sbom.Format) error) error {
	fs, c := commonFlags(name)
	var f sbomFlags
	f.declare(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	ref, format, err := f.check(fs)
	if err != nil {
		return err
	}
	app, err := c.open()
	if err != nil {
		return err
	}
	defer app.Close()
	acct := c.accountID
	var targets []pipeline.Target
	for _, a := range actions {
		targets = append(targets, pipeline.Repository(a, acct, f.repository))
	}
	err = do(app, acct, op, targets, func(ctx context.Context) error { return fn(ctx, app, acct, &f, ref, format) })
	if registry.KindOf(err) == registry.KindScanNotFound {
		return fmt.Errorf("%w %s in repository %s (scan it: aws ecr start-image-scan, or scanOnPush)", err, imageName(f), f.repository)
	}
	return err
}

func imageName(f sbomFlags) string {
	if f.digest != "" {
		return f.digest
	}
	return f.tag
}

// sbomGet prints an image's SBOM.
func sbomGet(args []string) error {
	return sbomCommand("sbom get", args, "ecr:GetImageSbom", []string{"ecr:DescribeImageScanFindings"},
		func(ctx context.Context, app *server.App, acct string, f *sbomFlags, ref registry.ImageRef, format sbom.Format) error {
			doc, err := app.Service.ImageSBOM(ctx, acct, f.repository, ref, format)
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(doc.Document)
			return err
		})
}

// sbomAttach attaches an image's SBOM to it as an OCI referrer and prints the referrer's digest.
func sbomAttach(args []string) error {
	return sbomCommand("sbom attach", args, "ecr:AttachImageSbom", []string{"ecr:DescribeImageScanFindings", "ecr:PutImage"},
		func(ctx context.Context, app *server.App, acct string, f *sbomFlags, ref registry.ImageRef, format sbom.Format) error {
			att, err := app.Service.AttachImageSBOM(ctx, acct, f.repository, ref, format)
			if err != nil {
				return err
			}
			fmt.Println(att.Referrer)
			return nil
		})
}
