package audit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	LookupAttributes []lookupAttribute `json:"LookupAttributes,omitempty"`
	StartTime        *float64          `json:"StartTime,omitempty"`
	EndTime          *float64          `json:"EndTime,omitempty"`
	EventCategory    string            `json:"EventCategory,omitempty"`
	MaxResults       *int              `json:"MaxResults,omitempty"`
	NextToken        string            `json:"NextToken,omitempty"`
}

type lookupAttribute struct {
	AttributeKey   string `json:"AttributeKey"`
	AttributeValue string `json:"AttributeValue"`
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
	case registry.KindThrottled:
		return &apiError{"ThrottlingException", "Rate exceeded", http.StatusBadRequest}
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

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve(w, r, nil) }

// ServeAs serves a call whose caller the transport has identified already, by other means than a
// signature: the web console's session. Everything else is as for a signed call.
func (h *Handler) ServeAs(w http.ResponseWriter, r *http.Request, caller pipeline.Credential) {
	h.serve(w, r, caller)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, caller pipeline.Credential) {
	reqID := pipeline.RequestID(r.Context())
	w.Header().Set("x-amzn-RequestId", reqID)
	if name := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix); name != "LookupEvents" {
		writeError(w, &apiError{"UnknownOperationException", "", http.StatusBadRequest})
		return
	}
	budgetKey := sigv4.KeyID(r)
	if caller == nil {
		if err := h.Signatures.Precheck(r.Context(), r); err != nil {
			bodylimit.Refuse(w, r, maxLookupBody)
			writeError(w, err)
			return
		}
	} else {
		budgetKey = "console " + pipeline.SourceIP(r.RemoteAddr)
	}
	body, err := h.Bodies.Read(w, r, maxLookupBody, budgetKey)
	if err != nil {
		bodylimit.Refused(w, r, err, 4*maxLookupBody)
		writeError(w, &apiError{"ThrottlingException", "Rate exceeded", http.StatusBadRequest})
		return
	}
	defer body.Release()
	if caller == nil {
		caller = sigv4.Signed{Identifier: h.Signatures, Request: r, BodySHA256: body.SHA256}
	}
	call := &pipeline.Call{RequestID: reqID, Protocol: "cloudtrail", SourceIP: pipeline.SourceIP(r.RemoteAddr), UserAgent: r.UserAgent(),
		Credential: caller,
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
		switch {
		case a.AttributeValue == "":
			return nil, invalid("InvalidLookupAttributesException", "Attribute value is required for key "+a.AttributeKey)
		case len(a.AttributeValue) > 2000:
			return nil, invalid("InvalidLookupAttributesException", "Attribute value must be at most 2000 characters.")
		case a.AttributeKey == "ReadOnly" && !strings.EqualFold(a.AttributeValue, "true") && !strings.EqualFold(a.AttributeValue, "false"):
			return nil, invalid("InvalidLookupAttributesException", "Attribute value of ReadOnly must be true or false.")
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
		if q.BeforeTime, q.BeforeID, ok = parseToken(in.NextToken, q.bound()); !ok {
			return nil, invalid("InvalidNextTokenException", "Invalid NextToken.")
		}
	}
	q.Budget = lookupBudget
	page, err := LookupPage(ctx, h.Meta, q)
	if err != nil {
		return nil, err
	}
	out := &lookupOutput{Events: make([]eventJSON, 0, len(page.Events))}
	for _, e := range page.Events {
		ev := eventJSON{EventID: e.EventID, EventName: e.Name(), ReadOnly: strconv.FormatBool(e.ReadOnly()), AccessKeyID: e.AccessKeyID(),
			EventTime: float64(e.Time.Unix()), EventSource: e.Source(), Username: e.Username(), Resources: []resourceJSON{},
			CloudTrailEvent: string(e.AppendJSON(nil))}
		for _, r := range e.Resources() {
			ev.Resources = append(ev.Resources, resourceJSON{ResourceType: r.Type, ResourceName: r.Name})
		}
		out.Events = append(out.Events, ev)
	}
	if page.NextID != "" {
		out.NextToken = makeToken(page.NextTime, page.NextID, q.bound())
	}
	return out, nil
}

// Query selects an account's records, newest first: from Start to End (inclusive, zero for open), whose
// Attribute (LookupEvents' attribute keys; "" for any) equals Value, strictly after (BeforeTime, BeforeID)
// in that order when BeforeID is not "". Budget, when not 0, bounds the records a lookup decodes (see Page).
type Query struct {
	Account          string
	Start, End       time.Time
	Attribute, Value string
	BeforeTime       time.Time
	BeforeID         string
	Limit            int
	Budget           int
}

// Page is a lookup's records, and where the next page starts when NextID is not "": the records strictly
// after (NextTime, NextID), as Query's BeforeTime and BeforeID.
type Page struct {
	Events   []Event
	NextTime time.Time
	NextID   string
}

// afterAll is an event id above every record's (they are lower-case UUIDs): a position of (t, afterAll)
// comes before every record of time t.
const afterAll = "~"

// Lookup finds the records of a query (see LookupPage), without their next page's position.
func Lookup(ctx context.Context, meta store.Store, q Query) ([]Event, error) {
	p, err := LookupPage(ctx, meta, q)
	return p.Events, err
}

// LookupPage finds the records of a query: it reads the account's chunks newest first, those that may
// hold records of the query, and stops once no older chunk can hold a record among the Limit newest
// found. When the query has a Budget and the chunks decoded hold that many records, it stops before the
// next chunk that ends before the query's position (so that each page moves on), with fewer records than
// Limit, maybe none: those newer than any record of the chunks left, and the next page from there. A
// chunk costs the budget its records and chunkCost.
func LookupPage(ctx context.Context, meta store.Store, q Query) (Page, error) {
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
	// By EventName or ReadOnly=false the store skips chunks, as many as there are: it is asked for an hour's
	// chunks at a time (a window), the next window starting at the newest chunk older than the last.
	windowed := q.Budget > 0 && (cq.Name != "" || cq.Mutating)
	var low time.Time // the window's lower bound
	if windowed {
		hi := cq.End
		if hi.IsZero() {
			hi = time.Now()
		}
		low = hi.Add(-lookupWindow)
	}
	var found []Event
	decoded := 0
	for {
		wq := cq
		if windowed && low.After(q.Start) {
			wq.Start = low
		}
		var chunks []store.AuditChunk
		if err := meta.View(ctx, func(tx store.Tx) (err error) { chunks, err = tx.AuditChunks(wq); return err }); err != nil {
			return Page{}, err
		}
		for i := range chunks {
			c := &chunks[i]
			if len(found) == q.Limit && found[q.Limit-1].Time.After(c.End) {
				return fullPage(found, q.Limit), nil // no record of this chunk, nor of older ones, comes before the last found
			}
			if q.Budget > 0 && decoded >= q.Budget && (q.BeforeID == "" || c.End.Before(q.BeforeTime)) {
				// The chunks left hold records of c.End and older only: those found newer are all there are.
				n := 0
				for n < len(found) && found[n].Time.After(c.End) {
					n++
				}
				return Page{Events: found[:n], NextTime: c.End, NextID: afterAll}, nil
			}
			events, err := Decode(c)
			if err != nil { // one damaged chunk does not fail every lookup that reaches it
				slog.Error("audit trail: a chunk does not decode; its records are left out", "chunk", c.ID, "account", c.Account, "err", err)
			}
			decoded += max(len(events), c.Records) + chunkCost
			for _, e := range events {
				if q.matches(&e) {
					found = append(found, e)
				}
			}
			slices.SortFunc(found, newestFirst)
			found = found[:min(len(found), q.Limit)]
		}
		if len(chunks) == cq.Limit {
			last := chunks[len(chunks)-1]
			cq.BeforeEnd, cq.BeforeID = last.End, last.ID
			continue
		}
		if wq.Start.Equal(q.Start) || ctx.Err() != nil { // the last window, or none
			return fullPage(found, q.Limit), ctx.Err()
		}
		// The window is done: the chunks left end before low.
		decoded += windowCost
		if len(found) == q.Limit && !found[q.Limit-1].Time.Before(low) {
			return fullPage(found, q.Limit), nil
		}
		if decoded >= q.Budget && (q.BeforeID == "" || low.Before(q.BeforeTime)) {
			n := 0
			for n < len(found) && !found[n].Time.Before(low) {
				n++
			}
			return Page{Events: found[:n], NextTime: low.Add(-1), NextID: afterAll}, nil
		}
		// The next window ends with the newest chunk before this one, after whatever time no chunk covers.
		probe := store.AuditChunkQuery{Account: cq.Account, Start: q.Start, End: cq.End, BeforeEnd: low.Add(-1), BeforeID: math.MaxInt64, Limit: 1}
		if err := meta.View(ctx, func(tx store.Tx) (err error) { chunks, err = tx.AuditChunks(probe); return err }); err != nil {
			return Page{}, err
		}
		if len(chunks) == 0 {
			return fullPage(found, q.Limit), nil
		}
		top := chunks[0].End
		cq.BeforeEnd, cq.BeforeID = top, math.MaxInt64
		low = top.Add(-lookupWindow)
	}
}

// fullPage is a page of the records found, with the next page's position when it has Limit records.
func fullPage(found []Event, limit int) Page {
	p := Page{Events: found}
	if len(found) == limit && limit > 0 {
		last := found[len(found)-1]
		p.NextTime, p.NextID = last.Time, last.EventID
	}
	return p
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

// chunkCost is what reading a chunk costs a lookup's budget besides its records: a trail of many small
// chunks (mutating calls are a chunk each) costs its reads too.
const chunkCost = 100

// lookupWindow is the time a lookup by EventName or ReadOnly=false asks the store for chunks of at once,
// windowCost what such a window costs the lookup's budget besides the chunks it holds (the store reads
// the window's chunks to find those that hold the name).
const (
	lookupWindow = time.Hour
	windowCost   = 2000
)

// lookupBudget bounds the records one LookupEvents call decodes: a lookup that few records match pages
// through a busy trail in calls of bounded work (pages with fewer records, maybe none, and a NextToken).
const lookupBudget = 100000

// bound is what a NextToken is bound to: the account and the lookup's parameters but the page size, as
// CloudTrail refuses a token given with other parameters than its first page's.
func (q *Query) bound() string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%d\x00%d", q.Account, q.Attribute, q.Value,
		unixNano(q.Start), unixNano(q.End)))
	return hex.EncodeToString(sum[:8])
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// makeToken is the NextToken of a position: its time, event id and what it is bound to.
func makeToken(at time.Time, id, bound string) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d.%s.%s", at.UnixNano(), id, bound))
}

func parseToken(tok, bound string) (time.Time, string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return time.Time{}, "", false
	}
	a, rest, _ := strings.Cut(string(raw), ".")
	id, b, ok := strings.Cut(rest, ".")
	ns, err := strconv.ParseInt(a, 10, 64)
	if !ok || err != nil || id == "" || b != bound {
		return time.Time{}, "", false
	}
	return time.Unix(0, ns).UTC(), id, true
}
