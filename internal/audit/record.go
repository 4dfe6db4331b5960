// Package audit keeps Wharf's audit trail in AWS CloudTrail's format: a record of every call through the
// pipeline, whatever its entry point (ECR API, registry API, IAM, STS, the command line, background work),
// successful or not, kept in the metadata store for each account the call concerns, looked up with
// CloudTrail's LookupEvents, delivered as CloudTrail log files, and pruned after the retention period.
//
// What a record says of a call's request and response is the operation's decoded input and its result
// (pipeline.Call's Input and Output), in their JSON form, less secrets: access keys' secrets, session and
// authorization tokens and passwords are hidden, manifests summarised by digest and size. An input or
// output that is no JSON document, or too large to copy, tells what to record (pipeline.Summarizer).
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

// EventVersion is the version of CloudTrail's record format the records follow.
const EventVersion = "1.08"

// Record is one CloudTrail record.
type Record struct {
	EventVersion       string       `json:"eventVersion"`
	UserIdentity       UserIdentity `json:"userIdentity"`
	EventTime          string       `json:"eventTime"`
	EventSource        string       `json:"eventSource"`
	EventName          string       `json:"eventName"`
	AWSRegion          string       `json:"awsRegion"`
	SourceIPAddress    string       `json:"sourceIPAddress"`
	UserAgent          string       `json:"userAgent"`
	ErrorCode          string       `json:"errorCode,omitempty"`
	ErrorMessage       string       `json:"errorMessage,omitempty"`
	RequestParameters  any          `json:"requestParameters"`
	ResponseElements   any          `json:"responseElements"`
	RequestID          string       `json:"requestID"`
	EventID            string       `json:"eventID"`
	ReadOnly           bool         `json:"readOnly"`
	Resources          []Resource   `json:"resources,omitempty"`
	EventType          string       `json:"eventType"`
	ManagementEvent    bool         `json:"managementEvent"`
	RecipientAccountID string       `json:"recipientAccountId"`
	EventCategory      string       `json:"eventCategory"`
}

// UserIdentity says who called.
type UserIdentity struct {
	Type           string          `json:"type"` // IAMUser, AssumedRole, Root, AWSService
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
	InvokedBy      string          `json:"invokedBy,omitempty"`
}

// SessionContext describes the role session of an AssumedRole caller.
type SessionContext struct {
	SessionIssuer SessionIssuer     `json:"sessionIssuer"`
	Attributes    SessionAttributes `json:"attributes"`
}

// SessionIssuer is the role a session was assumed from.
type SessionIssuer struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	UserName    string `json:"userName"`
}

// SessionAttributes are a session's attributes.
type SessionAttributes struct {
	CreationDate     string `json:"creationDate,omitempty"`
	MFAAuthenticated string `json:"mfaAuthenticated"`
}

// Resource is a resource a call acted on.
type Resource struct {
	ARN       string `json:"ARN"`
	AccountID string `json:"accountId"`
	Type      string `json:"type,omitempty"`
}

const timeFormat = "2006-01-02T15:04:05Z"

// hidden replaces a secret in a record, as CloudTrail does.
const hidden = "HIDDEN_DUE_TO_SECURITY_REASONS"

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// eventSource is the service endpoint an action's service is recorded as.
func eventSource(service string) string {
	if service == "wharf" { // Wharf's own work (garbage collection) is the registry's
		service = "ecr"
	}
	return service + ".amazonaws.com"
}

// ReadOnly tells the actions that change nothing, by their names as AWS names them.
func ReadOnly(name string) bool {
	for _, p := range []string{"Get", "Describe", "List", "BatchGet", "BatchCheck", "Lookup"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func userIdentity(p identity.Principal) UserIdentity {
	switch {
	case p.Service != "":
		return UserIdentity{Type: "AWSService", InvokedBy: p.Service}
	case p.Root:
		return UserIdentity{Type: "Root", PrincipalID: p.AccountID, ARN: p.ARN(), AccountID: p.AccountID, AccessKeyID: p.AccessKeyID}
	case p.RoleName != "":
		roleID, _, _ := strings.Cut(p.UserID, ":")
		return UserIdentity{Type: "AssumedRole", PrincipalID: p.UserID, ARN: p.ARN(), AccountID: p.AccountID,
			AccessKeyID: p.AccessKeyID, SessionContext: &SessionContext{
				SessionIssuer: SessionIssuer{Type: "Role", PrincipalID: roleID, ARN: p.RoleARN(), AccountID: p.AccountID, UserName: p.RoleName},
				Attributes:    SessionAttributes{MFAAuthenticated: "false"},
			}}
	}
	return UserIdentity{Type: "IAMUser", PrincipalID: p.UserID, ARN: p.ARN(), AccountID: p.AccountID,
		AccessKeyID: p.AccessKeyID, UserName: p.UserName}
}

// username is the caller's name as LookupEvents' Username matches it: the user's, the role session's,
// "root", or the service's.
func username(p identity.Principal) string {
	switch {
	case p.Service != "":
		return p.Service
	case p.Root:
		return "root"
	case p.RoleName != "":
		return p.SessionName
	}
	return p.UserName
}

// errorOf is the code and message the call's protocol answered the error with.
func errorOf(c *pipeline.Call, err error) (code, message string) {
	if c.ErrorCode != nil {
		return c.ErrorCode(err)
	}
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) {
		return coded.ErrorCode(), err.Error()
	}
	var de *registry.Error
	if errors.As(err, &de) && de.Kind != registry.KindInternal {
		return de.Kind.String(), de.Message
	}
	return "InternalFailure", "internal error"
}

// resourceOf is the resource a target names, and its name: a repository, or an IAM entity. A registry as
// a whole and "*" are none.
func resourceOf(t pipeline.Target, registryID, region string) (r Resource, name string, ok bool) {
	if t.Resource == "" {
		if t.Repository == "" {
			return Resource{}, "", false
		}
		acct := t.RegistryID
		if acct == "" {
			acct = registryID
		}
		arn := "arn:aws:ecr:" + region + ":" + acct + ":repository/" + t.Repository
		return Resource{ARN: arn, AccountID: acct, Type: "AWS::ECR::Repository"}, t.Repository, true
	}
	// arn:aws:iam::<account>:<kind>/<path/name>
	parts := strings.SplitN(t.Resource, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[4] == "" {
		return Resource{}, "", false
	}
	if name, ok := strings.CutPrefix(parts[5], "secret:"); ok && parts[2] == "secretsmanager" { // …:secret:<name>-<suffix>
		return Resource{ARN: t.Resource, AccountID: parts[4], Type: "AWS::SecretsManager::Secret"}, name, true
	}
	kind, rest, _ := strings.Cut(parts[5], "/")
	typ := "AWS::" + strings.ToUpper(parts[2]) + "::" + strings.ToUpper(kind[:min(1, len(kind))]) + kind[min(1, len(kind)):]
	return Resource{ARN: t.Resource, AccountID: parts[4], Type: typ}, rest[strings.LastIndex(rest, "/")+1:], true
}

// Summarize is what a record says of a call's input or output: its JSON form (a Query protocol's
// parameters as named members), or what its AuditSummary tells, less secrets.
func Summarize(v any, protocol string) any {
	if s, ok := v.(pipeline.Summarizer); ok {
		return s.AuditSummary() // recorded as it tells, secrets left out by its author
	}
	if v == nil {
		return nil
	}
	if q, ok := v.(url.Values); ok { // IAM and STS: parameters as members, but not the action itself
		m := make(map[string]any, len(q))
		for k, vs := range q {
			if k != "Action" && k != "Version" && len(vs) > 0 {
				m[lowerFirst(k)] = vs[0]
			}
		}
		return redact(m, false)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var tree any
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if dec.Decode(&tree) != nil {
		return nil
	}
	// The Query protocol's results are XML documents: their members are named as AWS's JSON names them.
	return redact(tree, protocol == "iam" || protocol == "sts")
}

// secrets are the members never recorded, lower-cased.
var secrets = map[string]bool{
	"secretaccesskey": true, "sessiontoken": true, "authorizationtoken": true, "password": true,
	"newpassword": true, "oldpassword": true, "privatekey": true, "secretstring": true, "secretbinary": true,
}

// redact hides secrets and summarises manifests, in place; lower names members as camelCase.
func redact(v any, lower bool) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if x == nil || x == "" { // a parameter not given
				delete(v, k)
				continue
			}
			if lower && k != awsName(k) {
				delete(v, k)
				k = awsName(k)
			}
			switch {
			case secrets[strings.ToLower(k)]:
				v[k] = hidden
			case k == "imageManifest" || k == "manifest":
				if s, ok := x.(string); ok {
					sum := sha256.Sum256([]byte(s))
					v[k] = map[string]any{"digest": "sha256:" + hex.EncodeToString(sum[:]), "size": len(s)}
				} else {
					v[k] = redact(x, lower)
				}
			default:
				v[k] = redact(x, lower)
			}
		}
		return v
	case []any:
		for i := range v {
			v[i] = redact(v[i], lower)
		}
		return v
	}
	return v
}

// awsName is a Go field's name as AWS's JSON names the member: AccessKeyID is accessKeyId.
func awsName(s string) string {
	if strings.HasSuffix(s, "ID") {
		s = s[:len(s)-2] + "Id"
	}
	return lowerFirst(s)
}

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}
