package audit

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The trail records every pull, so its records are encoded by hand: the same JSON as encoding/json's
// (members in the structs' order, maps' keys sorted), without reflection. Values of a shape not known
// here are left to encoding/json.

func (r *Record) appendJSON(b []byte) []byte {
	b = append(b, `{"eventVersion":`...)
	b = appendString(b, r.EventVersion)
	b = append(b, `,"userIdentity":`...)
	b = r.UserIdentity.appendJSON(b)
	b = appendMember(b, "eventTime", r.EventTime)
	b = appendMember(b, "eventSource", r.EventSource)
	b = appendMember(b, "eventName", r.EventName)
	b = appendMember(b, "awsRegion", r.AWSRegion)
	b = appendMember(b, "sourceIPAddress", r.SourceIPAddress)
	b = appendMember(b, "userAgent", r.UserAgent)
	b = appendOptional(b, "errorCode", r.ErrorCode)
	b = appendOptional(b, "errorMessage", r.ErrorMessage)
	b = append(b, `,"requestParameters":`...)
	b = appendValue(b, r.RequestParameters)
	b = append(b, `,"responseElements":`...)
	b = appendValue(b, r.ResponseElements)
	b = appendMember(b, "requestID", r.RequestID)
	b = appendMember(b, "eventID", r.EventID)
	b = append(b, `,"readOnly":`...)
	b = strconv.AppendBool(b, r.ReadOnly)
	if len(r.Resources) > 0 {
		b = append(b, `,"resources":[`...)
		for i, res := range r.Resources {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"ARN":`...)
			b = appendString(b, res.ARN)
			b = appendMember(b, "accountId", res.AccountID)
			b = appendOptional(b, "type", res.Type)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendMember(b, "eventType", r.EventType)
	b = append(b, `,"managementEvent":`...)
	b = strconv.AppendBool(b, r.ManagementEvent)
	b = appendMember(b, "recipientAccountId", r.RecipientAccountID)
	b = appendMember(b, "eventCategory", r.EventCategory)
	return append(b, '}')
}

func (u *UserIdentity) appendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, u.Type)
	b = appendOptional(b, "principalId", u.PrincipalID)
	b = appendOptional(b, "arn", u.ARN)
	b = appendOptional(b, "accountId", u.AccountID)
	b = appendOptional(b, "accessKeyId", u.AccessKeyID)
	b = appendOptional(b, "userName", u.UserName)
	if s := u.SessionContext; s != nil {
		i := s.SessionIssuer
		b = append(b, `,"sessionContext":{"sessionIssuer":{"type":`...)
		b = appendString(b, i.Type)
		b = appendMember(b, "principalId", i.PrincipalID)
		b = appendMember(b, "arn", i.ARN)
		b = appendMember(b, "accountId", i.AccountID)
		b = appendMember(b, "userName", i.UserName)
		b = append(b, `},"attributes":{`...)
		if s.Attributes.CreationDate != "" {
			b = append(b, `"creationDate":`...)
			b = appendString(b, s.Attributes.CreationDate)
			b = append(b, ',')
		}
		b = append(b, `"mfaAuthenticated":`...)
		b = appendString(b, s.Attributes.MFAAuthenticated)
		b = append(b, "}}"...)
	}
	b = appendOptional(b, "invokedBy", u.InvokedBy)
	return append(b, '}')
}

func appendMember(b []byte, name, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

func appendOptional(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	return appendMember(b, name, v)
}

// appendValue encodes what Summarize returns.
func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case json.RawMessage:
		return append(b, v...)
	case string:
		return appendString(b, v)
	case bool:
		return strconv.AppendBool(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case json.Number:
		if _, err := strconv.ParseFloat(string(v), 64); err == nil {
			return append(b, v...)
		}
	case float64:
		if !math.IsInf(v, 0) && !math.IsNaN(v) && v == math.Trunc(v) && math.Abs(v) < 1e21 {
			return strconv.AppendFloat(b, v, 'f', -1, 64)
		}
	case map[string]any:
		return appendMap(b, v)
	case map[string]string:
		return appendMap(b, v)
	case []any:
		return appendList(b, v)
	case []string:
		return appendList(b, v)
	case []map[string]string:
		return appendList(b, v)
	case []map[string]any:
		return appendList(b, v)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, data...)
}

func appendList[T any](b []byte, list []T) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, x := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendValue(b, x)
	}
	return append(b, ']')
}

// appendMap encodes m as an object, its keys sorted as encoding/json sorts them.
func appendMap[V any](b []byte, m map[string]V) []byte {
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendValue(b, m[k])
	}
	return append(b, '}')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendString encodes s as a JSON string, escaping as encoding/json does.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case utf8.RuneError:
				b = append(b, `\ufffd`...)
			default:
				b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			}
			start = i + size
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
