package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/wharf-dev/wharf/internal/config"
)

// command is one command of wharf: its name (one word, or a group and a word: "repo create"), the
// arguments it takes, a one-line description, and the function that runs it. run declares and parses its
// own flags with config.Parse (or parseArgs); a *config.UsageError it returns is reported with the
// command's usage (exit 2), -h and --help print that usage (exit 0), any other error fails it (exit 1).
type command struct {
	name  string
	args  string
	short string
	run   func(args []string) error
}

// commands are wharf's commands, in the order help lists them. A new command is one more line here.
var commands = []command{
	{"serve", "", "run the registry", serve},
	{"repo create", "NAME", "create a repository", repoCreate},
	{"repo list", "", "list the repositories of the account", repoList},
	{"repo delete", "NAME", "delete a repository (--force: with its images)", repoDelete},
	{"gc", "", "reclaim the storage of deleted images now", gc},
	{"lifecycle run", "", "apply lifecycle policies now (--dry-run: only report what they expire)", lifecycleRun},
	{"lifecycle history", "--repository NAME", "list the images lifecycle expired, newest first", lifecycleHistory},
	{"scan-db import", "PATH", "import OSV advisories: a JSON file, a directory of them, or an ecosystem's all.zip from osv.dev", scanDBImport},
	{"scan-db sync", "", "download and import the advisories of --ecosystems from osv.dev (or --from URL) now", scanDBSync},
	{"scan-db status", "", "print the advisories of the vulnerability database by ecosystem and when it changed", scanDBStatus},
	{"sbom get", "--repository NAME --image-tag TAG|--image-digest DIGEST", "print the SBOM of a scanned image (--format spdx|cyclonedx)", sbomGet},
	{"sbom attach", "--repository NAME --image-tag TAG|--image-digest DIGEST", "attach the SBOM of a scanned image to it as an OCI referrer; prints the referrer's digest", sbomAttach},
	{"usage", "", "print storage, pulls and estimated monthly costs per repository and the account's totals (--format table|json|csv)", usageCmd},
	{"signing certificate", "", "print the CA certificate (PEM) of the key that signs the account's images, for verifiers' trust stores", signingCertificate},
	{"migrate", "", "bring the metadata schema up to date (serve does it too)", migrateCmd},
	{"migrate-storage", "--from-data-dir DIR", "copy a single-node installation into PostgreSQL and S3", migrateStorage},
	{"backup", "--to DIR|s3://BUCKET/PREFIX", "back up the installation while it runs (SQLite metadata)", backupCmd},
	{"restore", "--from DIR|s3://BUCKET/PREFIX", "restore a backup into an empty --data-dir", restoreCmd},
	{"healthcheck", "", "exit 0 if the server answers /healthz with 200, else 1 (for container health checks)", healthcheck},
	{"admin create-account", "", "create the account --account-id; prints its admin key as JSON", adminCreateAccount},
	{"admin create-user", "NAME", "create an IAM user", adminCreateUser},
	{"admin create-access-key", "USER", "create an access key for a user; prints it as JSON", adminCreateAccessKey},
	{"admin delete-access-key", "KEY-ID", "delete an access key", adminDeleteAccessKey},
	{"admin delete-user", "NAME", "delete a user that has no keys, policies or groups left", adminDeleteUser},
	{"admin create-group", "NAME", "create a group", adminCreateGroup},
	{"admin add-user-to-group", "--group GROUP USER", "add a user to a group", adminGroupMembership(true)},
	{"admin remove-user-from-group", "--group GROUP USER", "remove a user from a group", adminGroupMembership(false)},
	{"admin create-login-profile", "USER", "give a user a console password (--password-stdin, or a generated one printed as JSON)", adminCreateLoginProfile},
	{"admin update-login-profile", "USER", "set a user's console password (--password-stdin, or a generated one printed), or with --keep-password only --password-reset-required", adminUpdateLoginProfile},
	{"admin get-login-profile", "USER", "tell whether a user has a console password, and whether it must be changed", adminGetLoginProfile},
	{"admin delete-login-profile", "USER", "remove a user's console password", adminDeleteLoginProfile},
	{"admin create-account-alias", "ALIAS", "name the account for console sign-in (replaces its alias)", adminCreateAccountAlias},
	{"admin create-role", "--policy-document TRUST NAME", "create a role with a trust policy", adminCreateRole},
	{"admin attach-user-policy", "--policy-arn ARN NAME", "attach an AWS managed policy to a user", adminAttachPolicy("user")},
	{"admin attach-group-policy", "--policy-arn ARN NAME", "attach an AWS managed policy to a group", adminAttachPolicy("group")},
	{"admin attach-role-policy", "--policy-arn ARN NAME", "attach an AWS managed policy to a role", adminAttachPolicy("role")},
	{"admin put-user-policy", "--policy-name P --policy-document JSON NAME", "set an inline policy of a user", adminPutPolicy("user")},
	{"admin put-group-policy", "--policy-name P --policy-document JSON NAME", "set an inline policy of a group", adminPutPolicy("group")},
	{"admin put-role-policy", "--policy-name P --policy-document JSON NAME", "set an inline policy of a role", adminPutPolicy("role")},
	{"version", "", "print the version, commit, Go version, platform and storage back ends", versionCmd},
}

const settingsHelp = `Every flag can also be set as WHARF_<FLAG> in the environment (--data-dir as WHARF_DATA_DIR) or in a JSON
config file (--config); flags win over the environment, which wins over the file.
`

// dispatch runs the command args name and returns the exit status.
func dispatch(args []string) int {
	if len(args) == 0 {
		printCommands(os.Stderr, "")
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 { // wharf help repo create
			return dispatch(append(args[1:], "--help"))
		}
		printCommands(os.Stdout, "")
		return 0
	case "-version", "--version":
		args[0] = "version"
	}
	cmd, rest := lookup(args)
	if cmd == nil {
		return unknown(args)
	}
	err := cmd.run(rest)
	var ue *config.UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue) && errors.Is(ue.Err, flag.ErrHelp):
		printUsage(os.Stdout, cmd, ue.Flags)
		return 0
	case errors.As(err, &ue):
		// As the go command does: the mistake, the usage line, where the rest is.
		fmt.Fprintf(os.Stderr, "wharf %s: %s\n%s\nRun 'wharf %s --help' for its flags.\n", cmd.name, flagMessage(ue.Err), usageLine(cmd, ue.Flags), cmd.name)
		return 2
	}
	fmt.Fprintln(os.Stderr, "wharf:", err)
	return 1
}

// flagMessage is the flag package's message about a mistake, with flags named as wharf's documentation
// names them (--flag, not -flag).
func flagMessage(err error) string {
	msg := err.Error()
	for _, p := range []string{"defined: -", "argument: -", "for flag -", "syntax: -"} {
		msg = strings.Replace(msg, p, p+"-", 1)
	}
	return msg
}

// lookup finds the command that args start with, and the arguments after its name.
func lookup(args []string) (*command, []string) {
	for i := range commands {
		words := strings.Fields(commands[i].name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == commands[i].name {
			return &commands[i], args[len(words):]
		}
	}
	return nil, nil
}

// unknown answers args that name no command: a group alone or with --help lists the group's commands.
func unknown(args []string) int {
	group := args[0]
	if !isGroup(group) {
		fmt.Fprintf(os.Stderr, "wharf: unknown command %q; 'wharf help' lists the commands\n", group)
		return 2
	}
	switch {
	case len(args) > 1 && isHelp(args[1]):
		printCommands(os.Stdout, group)
		return 0
	case len(args) == 1:
		fmt.Fprintf(os.Stderr, "wharf %s: missing command\n", group)
	default:
		fmt.Fprintf(os.Stderr, "wharf: unknown command %q\n", group+" "+args[1])
	}
	printCommands(os.Stderr, group)
	return 2
}

func isGroup(word string) bool {
	for _, c := range commands {
		if strings.HasPrefix(c.name, word+" ") {
			return true
		}
	}
	return false
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// printCommands lists the commands, or those of one group.
func printCommands(w io.Writer, group string) {
	prefix, width := "", 0
	if group != "" {
		prefix = group + " "
	}
	for _, c := range commands {
		if strings.HasPrefix(c.name, prefix) {
			width = max(width, len(c.name))
		}
	}
	if group == "" {
		fmt.Fprint(w, "usage: wharf <command> [flags] [arguments]\n\ncommands:\n")
	} else {
		fmt.Fprintf(w, "usage: wharf %s <command> [flags] [arguments]\n\ncommands:\n", group)
	}
	for _, c := range commands {
		if strings.HasPrefix(c.name, prefix) {
			fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.short)
		}
	}
	fmt.Fprintf(w, "\nRun 'wharf %s<command> --help' for a command's arguments and flags.\n", prefix)
	if group == "" {
		fmt.Fprint(w, settingsHelp)
	}
}

// printUsage prints a command's usage line, description and flags: its own, then those it shares with
// every command on an installation.
func printUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "%s\n\n%s\n", usageLine(c, fs), strings.ToUpper(c.short[:1])+c.short[1:]+".")
	shared, _ := commonFlags("")
	var own, common []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if shared.Lookup(f.Name) != nil {
			common = append(common, f)
		} else {
			own = append(own, f)
		}
	})
	for _, group := range []struct {
		title string
		flags []*flag.Flag
	}{{"flags", own}, {"installation flags", common}} {
		if len(group.flags) > 0 {
			fmt.Fprintf(w, "\n%s:\n", group.title)
		}
		for _, f := range group.flags {
			printFlag(w, f)
		}
	}
	if fs.Lookup("config") != nil {
		fmt.Fprint(w, "\n"+settingsHelp)
	}
}

// usageLine is "usage: wharf NAME [flags] ARGS".
func usageLine(c *command, fs *flag.FlagSet) string {
	line := "usage: wharf " + c.name
	if hasFlags(fs) {
		line += " [flags]"
	}
	if c.args != "" {
		line += " " + c.args
	}
	return line
}

func printFlag(w io.Writer, f *flag.Flag) {
	typ, usage := flag.UnquoteUsage(f)
	fmt.Fprintf(w, "  --%s", f.Name)
	if typ != "" {
		fmt.Fprintf(w, " %s", typ)
	}
	fmt.Fprintf(w, "\n      %s", usage)
	switch f.DefValue {
	case "", "0", "false", "0s":
	default:
		if typ == "string" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		} else {
			fmt.Fprintf(w, " (default %s)", strings.ToLower(f.DefValue))
		}
	}
	fmt.Fprintln(w)
}

func hasFlags(fs *flag.FlagSet) bool {
	if fs == nil {
		return false
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// newFlagSet returns an empty flag set for a command.
func newFlagSet(name string) *flag.FlagSet {
	return flag.NewFlagSet("wharf "+name, flag.ContinueOnError)
}

// parseArgs parses a command's flags and its positional arguments: exactly one for each of names.
func parseArgs(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	pos, err := config.Parse(fs, args)
	if err != nil {
		return nil, err
	}
	switch {
	case len(pos) < len(names):
		return nil, usageError(fs, "missing %s", strings.Join(names[len(pos):], " "))
	case len(pos) > len(names):
		return nil, usageError(fs, "unexpected argument %q", pos[len(names)])
	}
	return pos, nil
}

// required refuses flags left empty: name, value, name, value ….
func required(fs *flag.FlagSet, nameValues ...string) error {
	for i := 0; i+1 < len(nameValues); i += 2 {
		if nameValues[i+1] == "" {
			return usageError(fs, "missing --%s", nameValues[i])
		}
	}
	return nil
}

func usageError(fs *flag.FlagSet, format string, args ...any) error {
	return &config.UsageError{Flags: fs, Err: fmt.Errorf(format, args...)}
}
