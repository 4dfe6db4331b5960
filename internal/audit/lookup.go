package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/bodylimit"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/sigv4"
	"github.com/wharf-dev/wharf/internal/store"
	"github.com/wharf-dev/wharf/internal/strictjson"
)

// TargetPrefix starts every X-Amz-Target of the CloudTrail API.
const TargetPrefix = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."

// IsLookupRequest tells a CloudTrail API call (AWS JSON 1.1) from other traffic on the shared listener.
func IsLookupRequest(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
}

// Handler serves CloudTrail's LookupEvents over the trail: an account sees its own events, newest first,
// if IAM allows it cloudtrail:LookupEvents.
type Handler struct {
	Meta     store.Store
	Pipeline *pipeline.Pipeline
	// Signatures identifies callers by their SigV4 signature (signing name "cloudtrail").
	Signatures sigv4.Identifier
	Bodies     *bodylimit.Reader
}

const maxLookupBody = 64 << 10

type lookupInput struct {
	LookupAttributes []struct {
		AttributeKey   string `json:"AttributeKey"`
		AttributeValue string `json:"AttributeValue"`
	} `json:"LookupAttributes,omitempty"`
	StartTime     *float64 `json:"StartTime,omitempty"`
	EndTime       *float64 `json:"EndTime,omitempty"`
	EventCategory string   `json:"EventCategory,omitempty"`
	MaxResults    *int     `json:"MaxResults,omitempty"`
	NextToken     string   `json:"NextToken,omitempty"`
}

type eventJSON struct {
	EventID         string         `json:"EventId"`
	EventName       string         `json:"EventName"`
	ReadOnly        string         `json:"ReadOnly"`
	AccessKeyID     string         `json:"AccessKeyId,omitempty"`
	EventTime       float64        `json:"EventTime"`
	EventSource     string         `json:"EventSource"`
	Username        string         `json:"Username,omitempty"`
	Resources       []resourceJSON `json:"Resources"`
	CloudTrailEvent string         `json:"CloudTrailEvent"`
}

type resourceJSON struct {
	ResourceType string `json:"ResourceType"`
	ResourceName string `json:"ResourceName"`
}

type lookupOutput struct {
	Events    []eventJSON `json:"Events"`
	NextToken string      `json:"NextToken,omitempty"`
}

// apiError is an error of the JSON protocol.
type apiError struct {
	Code, Message string
	Status        int
}

func (e *apiError) Error() string     { return e.Code + ": " + e.Message }
func (e *apiError) ErrorCode() string { return e.Code }

func invalid(code, msg string) error { return &apiError{code, msg, http.StatusBadRequest} }

func toAPI(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var se *sigv4.Error
	if errors.As(err, &se) {
		return &apiError{se.Code, se.Message, se.Status}
	}
	switch registry.KindOf(err) {
	case registry.KindDenied:
		return &apiError{"AccessDeniedException", err.Error(), http.StatusBadRequest}
	case registry.KindUnauthorized:
		return &apiError{"UnrecognizedClientException", err.Error(), http.StatusBadRequest}
	}
	return &apiError{"InternalFailure", "internal error", http.StatusInternalServerError}
}

func writeError(w http.ResponseWriter, err error) {
	ae := toAPI(err)
	body, _ := json.Marshal(map[string]string{"__type": ae.Code, "message": ae.Message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-ErrorType", ae.Code)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(ae.Status)
	w.Write(body)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := pipeline.RequestID(r.Context())
	w.Header().Set("x-amzn-RequestId", reqID)
	if name := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix); name != "LookupEvents" {
		writeError(w, &apiError{"UnknownOperationException", "", http.StatusBadRequest})
		return
	}
	if err := h.Signatures.Precheck(r.Context(), r); err != nil {
		bodylimit.Refuse(w, r, maxLookupBody)
		writeError(w, err)
		return
	}
	body, err := h.Bodies.Read(w, r, maxLookupBody, sigv4.KeyID(r))
	if err != nil {
		bodylimit.Refused(w, r, err, 4*maxLookupBody)
		writeError(w, &apiError{"ThrottlingException", "Rate exceeded", http.StatusBadRequest})
		return
	}
	defer body.Release()
	call := &pipeline.Call{RequestID: reqID, Protocol: "cloudtrail", SourceIP: pipeline.SourceIP(r.RemoteAddr), UserAgent: r.UserAgent(),
		Credential: sigv4.Signed{Identifier: h.Signatures, Request: r, BodySHA256: body.SHA256},
		ErrorCode:  func(err error) (string, string) { ae := toAPI(err); return ae.Code, ae.Message }}
	in := &lookupInput{}
	var out *lookupOutput
	err = h.Pipeline.Do(r.Context(), call, pipeline.Op{
		Action: "cloudtrail:LookupEvents",
		Decode: func() (any, error) {
			if err := strictjson.Decode(body.Bytes, in); err != nil {
				return in, &apiError{"SerializationException", err.Error(), http.StatusBadRequest}
			}
			return in, nil
		},
		Resolve: func(c *pipeline.Call) ([]pipeline.Target, error) {
			return []pipeline.Target{{Action: "cloudtrail:LookupEvents", Resource: "*"}}, nil
		},
		Run: func(ctx context.Context, c *pipeline.Call) (err error) {
			out, err = h.lookup(ctx, c.Caller.AccountID, in)
			return err
		},
	})
	if err != nil {
		writeError(w, err)
		return
	}
	data, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

// lookupKeys are the attributes LookupEvents filters by.
var lookupKeys = map[string]bool{"EventId": true, "EventName": true, "ReadOnly": true, "Username": true, "ResourceType": true,
	"ResourceName": true, "EventSource": true, "AccessKeyId": true}

func (h *Handler) lookup(ctx context.Context, account string, in *lookupInput) (*lookupOutput, error) {
	q := Query{Account: account, Limit: 50}
	switch len(in.LookupAttributes) {
	case 0:
	case 1:
		a := in.LookupAttributes[0]
		if !lookupKeys[a.AttributeKey] {
			return nil, invalid("InvalidLookupAttributesException", "Invalid attribute key: "+a.AttributeKey)
		}
		if a.AttributeValue == "" {
			return nil, invalid("InvalidLookupAttributesException", "Attribute value is required for key "+a.AttributeKey)
		}
		q.Attribute, q.Value = a.AttributeKey, a.AttributeValue
	default:
		return nil, invalid("InvalidLookupAttributesException", "You can only specify one lookup attribute.")
	}
	if in.EventCategory != "" && in.EventCategory != "insight" {
		return nil, invalid("InvalidEventCategoryException", "Invalid event category: "+in.EventCategory)
	}
	if in.EventCategory == "insight" { // the trail holds no Insights events
		return &lookupOutput{Events: []eventJSON{}}, nil
	}
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 50 {
			return nil, invalid("InvalidMaxResultsException", "MaxResults must be from 1 to 50.")
		}
		q.Limit = *in.MaxResults
	}
	if in.StartTime != nil {
		q.Start = fromEpoch(*in.StartTime)
	}
	if in.EndTime != nil {
		q.End = fromEpoch(*in.EndTime)
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.Start.After(q.End) {
		return nil, invalid("InvalidTimeRangeException", "Start time must be before end time.")
	}
	if in.NextToken != "" {
		var ok bool
		if q.BeforeTime, q.BeforeID, ok = parseToken(in.NextToken); !ok {
			return nil, invalid("InvalidNextTokenException", "Invalid NextToken.")
		}
	}
	events, err := Lookup(ctx, h.Meta, q)
	if err != nil {
		return nil, err
	}
	out := &lookupOutput{Events: make([]eventJSON, 0, len(events))}
	for _, e := range events {
		ev := eventJSON{EventID: e.EventID, EventName: e.Name(), ReadOnly: strconv.FormatBool(e.ReadOnly()), AccessKeyID: e.AccessKeyID(),
			EventTime: float64(e.Time.Unix()), EventSource: e.Source(), Username: e.Username(), Resources: []resourceJSON{},
			CloudTrailEvent: string(e.AppendJSON(nil))}
		for _, r := range e.Resources() {
			ev.Resources = append(ev.Resources, resourceJSON{ResourceType: r.Type, ResourceName: r.Name})
		}
		out.Events = append(out.Events, ev)
	}
	if len(events) == q.Limit {
		last := events[len(events)-1]
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d.%s", last.Time.UnixNano(), last.EventID)))
	}
	return out, nil
}

// Query selects an account's records, newest first: from Start to End (inclusive, zero for open), whose
// Attribute (LookupEvents' attribute keys; "" for any) equals Value, strictly after (BeforeTime, BeforeID)
// in that order when BeforeID is not "".
type Query struct {
	Account          string
	Start, End       time.Time
	Attribute, Value string
	BeforeTime       time.Time
	BeforeID         string
	Limit            int
}

// Lookup finds the records of a query: it reads the account's chunks newest first, those that may hold
// records of the query, and stops once no older chunk can hold a record among the Limit newest found.
func Lookup(ctx context.Context, meta store.Store, q Query) ([]Event, error) {
	cq := store.AuditChunkQuery{Account: q.Account, Start: q.Start, End: q.End, Limit: 20}
	switch q.Attribute {
	case "EventName":
		cq.Name = q.Value
	case "ReadOnly":
		cq.Mutating = !strings.EqualFold(q.Value, "true")
	}
	if q.BeforeID != "" && (cq.End.IsZero() || q.BeforeTime.Before(cq.End)) {
		cq.End = q.BeforeTime
	}
	var found []Event
	for {
		var chunks []store.AuditChunk
		if err := meta.View(ctx, func(tx store.Tx) (err error) { chunks, err = tx.AuditChunks(cq); return err }); err != nil {
			return nil, err
		}
		for i := range chunks {
			c := &chunks[i]
			if len(found) == q.Limit && found[q.Limit-1].Time.After(c.End) {
				return found, nil // no record of this chunk, nor of older ones, comes before the last found
			}
			events, err := Decode(c)
			if err != nil {
				return nil, fmt.Errorf("audit chunk %d: %w", c.ID, err)
			}
			for _, e := range events {
				if q.matches(&e) {
					found = append(found, e)
				}
			}
			slices.SortFunc(found, newestFirst)
			found = found[:min(len(found), q.Limit)]
		}
		if len(chunks) < cq.Limit {
			return found, ctx.Err()
		}
		last := chunks[len(chunks)-1]
		cq.BeforeEnd, cq.BeforeID = last.End, last.ID
	}
}

func newestFirst(a, b Event) int {
	if c := b.Time.Compare(a.Time); c != 0 {
		return c
	}
	return strings.Compare(b.EventID, a.EventID)
}

func (q *Query) matches(e *Event) bool {
	if !q.Start.IsZero() && e.Time.Before(q.Start) || !q.End.IsZero() && e.Time.After(q.End) {
		return false
	}
	if q.BeforeID != "" && newestFirst(*e, Event{Time: q.BeforeTime, EventID: q.BeforeID}) <= 0 {
		return false
	}
	switch q.Attribute {
	case "":
		return true
	case "EventName":
		return e.Name() == q.Value
	case "EventSource":
		return e.Source() == q.Value
	case "Username":
		return e.Username() == q.Value
	case "AccessKeyId":
		return e.AccessKeyID() == q.Value
	case "EventId":
		return e.EventID == q.Value
	case "ReadOnly":
		return e.ReadOnly() == strings.EqualFold(q.Value, "true")
	case "ResourceName", "ResourceType":
		for _, r := range e.Resources() {
			if q.Attribute == "ResourceName" && r.Name == q.Value || q.Attribute == "ResourceType" && r.Type == q.Value {
				return true
			}
		}
	}
	return false
}

func fromEpoch(s float64) time.Time {
	sec, frac := math.Modf(s)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

func parseToken(tok string) (time.Time, string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return time.Time{}, "", false
	}
	a, id, ok := strings.Cut(string(raw), ".")
	ns, err := strconv.ParseInt(a, 10, 64)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", false
	}
	return time.Unix(0, ns).UTC(), id, true
}
