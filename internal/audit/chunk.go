package audit

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/store"
)

// The trail records every pull, so records are kept in chunks: a batch of one account's records, what
// they share kept once per chunk — strings, callers, operations (name, parameters, resources) — and a
// record naming its caller and operation, with its time, address, user agent, outcome and request id. A
// record's eventID is not kept: it is derived from the batch's random seed and the record's place in the
// batch. The JSON record is rendered when it is looked up or delivered.
//
// A chunk's data (not compressed further: a pull's record is some 25 bytes, most of them its random
// request id):
//
//	"WA3" region seed[16] count strings… count callers… count operations… count records…
//
// a string being its length (uvarint) and bytes; a caller the indexes (uvarint, 0 for "") of its
// userIdentity JSON, username and access key id among the strings; an operation those of its name, event
// source, requestParameters JSON and resources; a record its time (varint, nanoseconds after the previous
// record's), its place in the batch, its caller and operation, the strings of its source address, user
// agent, error code, error message and responseElements JSON (uvarints), and its request id: flag 1 and
// 16 bytes when it is a UUID, else flag 0 and a string.

const chunkMagic = "WA3"

// The fields of a record, in their order in a chunk (callers', operations', then records' own).
const (
	fIdentity = iota // the userIdentity member, JSON
	fUsername
	fAccessKeyID
	fName
	fSource
	fParams    // requestParameters, JSON
	fResources // lines of type, name and ARN
	fSourceIP
	fUserAgent
	fErrorCode
	fErrorMessage
	fResponse // responseElements, JSON
	numFields
)

// Where each part's fields begin.
const (
	callerFields = fIdentity
	opFields     = fName
	recordFields = fSourceIP
)

// entry is what a record needs of a call, taken when the call ends.
type entry struct {
	start                          time.Time
	action, protocol, registryID   string
	caller                         identity.Principal
	sourceIP, userAgent, requestID string
	input, output                  any
	targets                        []pipeline.Target
	errCode, errMsg                string
	failed                         bool
}

// Bounds of what a record keeps of a call, whatever its client sent: a longer user agent, error code or
// message is cut; longer request parameters or response elements are left out (null), as CloudTrail leaves
// out those over 100 KB.
const (
	maxUserAgent    = 1 << 10
	maxErrorMessage = 1 << 10
	maxElements     = 100 << 10
	maxResourceARN  = 2 << 10
)

func entryOf(c *pipeline.Call, err error) entry {
	e := entry{start: c.Start, action: c.Action, protocol: c.Protocol, registryID: c.RegistryID, caller: c.Caller,
		sourceIP: c.SourceIP, userAgent: cut(c.UserAgent, maxUserAgent), requestID: c.RequestID, input: c.Input, output: c.Output,
		targets: c.Targets}
	if err != nil {
		e.failed = true
		e.errCode, e.errMsg = errorOf(c, err)
		e.errCode, e.errMsg = cut(e.errCode, maxErrorMessage), cut(e.errMsg, maxErrorMessage)
	}
	return e
}

// cut is s, or its first n bytes less a character they split.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// elements is a value's JSON as a record keeps it: "" (null) when it is over maxElements.
func elements(v any, protocol string) string {
	b := appendValue(nil, Summarize(v, protocol))
	if len(b) > maxElements {
		return ""
	}
	return string(b)
}

// fields are a record's values as a chunk keeps them: callers and operations are worked out once (memo)
// and pointed to, so that a chunk finds them by their pointers.
type fields struct {
	at        int64
	n         uint64 // the record's place in its batch
	requestID string
	key       recordKey
	accounts  []string // the accounts that see it
}

type recordKey struct {
	caller                                   *callerOf
	op                                       *opOf
	sourceIP, userAgent, errCode, errMessage string
	response                                 string
}

// callerOf is what a record says of its caller.
type callerOf struct{ identity, username, accessKeyID string }

// opOf is what a record says of its operation: its name, source, parameters and resources, and the
// accounts that see it.
type opOf struct {
	name, source, params, resources string
	readOnly                        bool
	accounts                        []string
}

// AuditKeyer is an Input whose summary (AuditSummary) and targets are the same for the same key, in one
// action on one registry: the trail works such a call's operation out once per key, not once per call.
type AuditKeyer interface {
	AuditKey() [4]string
}

// memo keeps what repeats from call to call (callers, operations), worked out once. Not safe for
// concurrent use.
type memo struct {
	region     string
	callers    map[identity.Principal]*callerOf
	last       *callerOf // the last caller's
	lastCaller identity.Principal
	// ops are operations by their action and registry, then their input's key.
	ops       map[opGroup]map[[4]string]*opOf
	lastGroup opGroup
	lastOps   map[[4]string]*opOf
	nops      int
}

type opGroup struct{ action, protocol, registryID string }

func newMemo(region string) *memo {
	return &memo{region: region, callers: map[identity.Principal]*callerOf{}, ops: map[opGroup]map[[4]string]*opOf{}}
}

// memoLimit bounds the callers and operations a memo keeps, maxMemoKey the key of an operation it keeps
// (no valid repository name, tag or digest is that long; a request's may be about a megabyte).
const (
	memoLimit  = 10000
	maxMemoKey = 2 << 10
)

// fieldsOf works out an entry's record, with op as its operation when not nil; ok is false when no account
// can be held to it (anonymous calls, background work on no resource).
func (m *memo) fieldsOf(e *entry, op *opOf) (fl fields, ok bool) {
	if e.action == "" || e.caller.Anonymous() {
		return fl, false
	}
	fl.at, fl.requestID = e.start.UnixNano(), e.requestID
	if fl.requestID == "" {
		fl.requestID = pipeline.NewRequestID()
	}
	k := &fl.key
	k.sourceIP, k.userAgent = e.sourceIP, e.userAgent
	if e.caller.Service != "" {
		k.sourceIP, k.userAgent = e.caller.Service, e.caller.Service
	}
	if k.sourceIP == "" {
		k.sourceIP = "AWS Internal"
	}
	if m.last != nil && m.lastCaller == e.caller { // calls often come in runs of one caller's
		k.caller = m.last
	} else if k.caller = m.callers[e.caller]; k.caller == nil {
		u := userIdentity(e.caller)
		k.caller = &callerOf{string(u.appendJSON(nil)), username(e.caller), e.caller.AccessKeyID}
		if len(m.callers) >= memoLimit {
			clear(m.callers)
		}
		m.callers[e.caller] = k.caller
	}
	m.last, m.lastCaller = k.caller, e.caller
	if k.op = op; op == nil {
		k.op = m.opOf(e)
	}
	if e.failed {
		k.errCode, k.errMessage = e.errCode, e.errMsg
		if e.protocol == "signin" { // a failed ConsoleLogin says so in its response, as CloudTrail's does
			k.response = elements(e.output, e.protocol)
		}
	} else if !k.op.readOnly {
		k.response = elements(e.output, e.protocol)
	}
	// The caller's account first, then the resources' others.
	switch a := e.caller.AccountID; {
	case a == "" || len(k.op.accounts) == 1 && k.op.accounts[0] == a:
		fl.accounts = k.op.accounts
	default:
		fl.accounts = append(make([]string, 0, len(k.op.accounts)+1), a)
		for _, r := range k.op.accounts {
			if !contains(fl.accounts, r) {
				fl.accounts = append(fl.accounts, r)
			}
		}
	}
	return fl, len(fl.accounts) > 0
}

// memoizable tells an entry whose operation the memo can tell by a key: its input tells its key.
func memoizable(e *entry) bool {
	_, ok := e.input.(AuditKeyer)
	return ok
}

// opOf is the entry's operation, from the memo when it is memoizable.
func (m *memo) opOf(e *entry) *opOf {
	if !memoizable(e) {
		return newOp(e, m.region)
	}
	group := opGroup{e.action, e.protocol, e.registryID}
	ops := m.lastOps
	if ops == nil || group != m.lastGroup {
		if ops = m.ops[group]; ops == nil {
			ops = map[[4]string]*opOf{}
			m.ops[group] = ops
		}
		m.lastGroup, m.lastOps = group, ops
	}
	key := e.input.(AuditKeyer).AuditKey()
	if len(key[0])+len(key[1])+len(key[2])+len(key[3]) > maxMemoKey {
		return newOp(e, m.region) // a request's overlong names: worked out, not kept
	}
	op := ops[key]
	if op == nil {
		if m.nops >= memoLimit {
			clear(m.ops)
			clear(ops)
			m.ops[group], m.nops = ops, 0
		}
		op = newOp(e, m.region)
		ops[key] = op
		m.nops++
	}
	return op
}

// newOp works an entry's operation out.
func newOp(e *entry, region string) *opOf {
	service, name, _ := strings.Cut(e.action, ":")
	op := &opOf{name: name, source: eventSource(service), readOnly: ReadOnly(name),
		params: elements(e.input, e.protocol)}
	op.resources, op.accounts = resourcesOfTargets(e.targets, e.registryID, region)
	return op
}

// resourcesOfTargets are the resources the targets name, as lines of type, name and ARN separated by tabs
// (none of them holds a tab or a line break), and their accounts. A resource targeted for several actions
// is listed once.
func resourcesOfTargets(targets []pipeline.Target, registryID, region string) (string, []string) {
	var b strings.Builder
	var accounts []string
	seen := map[string]bool{}
	for _, t := range targets {
		r, name, ok := resourceOf(t, registryID, region)
		// No valid name is so long, and an account is 12 digits (it names the account's log files' folder):
		// such a resource is a request's, refused.
		if !ok || len(r.ARN) > maxResourceARN || !identity.ValidAccountID(r.AccountID) || seen[r.ARN] {
			continue
		}
		seen[r.ARN] = true
		b.WriteString(r.Type)
		b.WriteByte('\t')
		b.WriteString(name)
		b.WriteByte('\t')
		b.WriteString(r.ARN)
		b.WriteByte('\n')
		if !contains(accounts, r.AccountID) {
			accounts = append(accounts, r.AccountID)
		}
	}
	return b.String(), accounts
}

// chunkWriter builds one account's chunk.
type chunkWriter struct {
	account    string
	strs       map[string]uint64
	table      []byte // the strings, encoded
	nstrs      uint64
	callers    map[*callerOf]uint64
	callerData []byte
	ops        map[*opOf]uint64
	opData     []byte
	recs       []byte
	nrecs      int
	last       int64
	start, end int64
	names      []string
	readOnly   bool
	// The last record's address and user agent, and their strings' indexes.
	lastIP, lastUA           string
	lastIPIndex, lastUAIndex uint64
}

func newChunkWriter(account string) *chunkWriter {
	return &chunkWriter{account: account, strs: map[string]uint64{}, callers: map[*callerOf]uint64{}, ops: map[*opOf]uint64{},
		readOnly: true}
}

func (w *chunkWriter) intern(s string) uint64 {
	if s == "" {
		return 0
	}
	if i, ok := w.strs[s]; ok {
		return i
	}
	w.nstrs++
	w.strs[s] = w.nstrs
	w.table = binary.AppendUvarint(w.table, uint64(len(s)))
	w.table = append(w.table, s...)
	return w.nstrs
}

func (w *chunkWriter) caller(c *callerOf) uint64 {
	i, ok := w.callers[c]
	if !ok {
		i = uint64(len(w.callers))
		w.callers[c] = i
		for _, s := range [...]string{c.identity, c.username, c.accessKeyID} {
			w.callerData = binary.AppendUvarint(w.callerData, w.intern(s))
		}
	}
	return i
}

func (w *chunkWriter) op(o *opOf) uint64 {
	i, ok := w.ops[o]
	if !ok {
		i = uint64(len(w.ops))
		w.ops[o] = i
		for _, s := range [...]string{o.name, o.source, o.params, o.resources} {
			w.opData = binary.AppendUvarint(w.opData, w.intern(s))
		}
		if !contains(w.names, o.name) {
			w.names = append(w.names, o.name)
		}
		w.readOnly = w.readOnly && o.readOnly
	}
	return i
}

func (w *chunkWriter) add(fl *fields) {
	if w.nrecs == 0 || fl.at < w.start {
		w.start = fl.at
	}
	if w.nrecs == 0 || fl.at > w.end {
		w.end = fl.at
	}
	k := &fl.key
	w.recs = binary.AppendVarint(w.recs, fl.at-w.last)
	w.last = fl.at
	w.recs = binary.AppendUvarint(w.recs, fl.n)
	w.recs = binary.AppendUvarint(w.recs, w.caller(k.caller))
	w.recs = binary.AppendUvarint(w.recs, w.op(k.op))
	// A client's calls come in runs: its address and user agent are likely the last record's.
	if k.sourceIP != w.lastIP {
		w.lastIP, w.lastIPIndex = k.sourceIP, w.intern(k.sourceIP)
	}
	if k.userAgent != w.lastUA {
		w.lastUA, w.lastUAIndex = k.userAgent, w.intern(k.userAgent)
	}
	w.recs = binary.AppendUvarint(w.recs, w.lastIPIndex)
	w.recs = binary.AppendUvarint(w.recs, w.lastUAIndex)
	for _, s := range [...]string{k.errCode, k.errMessage, k.response} {
		w.recs = binary.AppendUvarint(w.recs, w.intern(s))
	}
	if !appendUUID(&w.recs, fl.requestID) {
		w.recs = append(w.recs, 0)
		w.recs = binary.AppendUvarint(w.recs, uint64(len(fl.requestID)))
		w.recs = append(w.recs, fl.requestID...)
	}
	w.nrecs++
}

// chunk is the chunk's row.
func (w *chunkWriter) chunk(region string, seed *[16]byte) store.AuditChunk {
	data := make([]byte, 0, len(w.table)+len(w.callerData)+len(w.opData)+len(w.recs)+64)
	data = append(data, chunkMagic...)
	data = binary.AppendUvarint(data, uint64(len(region)))
	data = append(data, region...)
	data = append(data, seed[:]...)
	data = binary.AppendUvarint(data, w.nstrs)
	data = append(data, w.table...)
	data = binary.AppendUvarint(data, uint64(len(w.callers)))
	data = append(data, w.callerData...)
	data = binary.AppendUvarint(data, uint64(len(w.ops)))
	data = append(data, w.opData...)
	data = binary.AppendUvarint(data, uint64(w.nrecs))
	data = append(data, w.recs...)
	return store.AuditChunk{Account: w.account, Start: time.Unix(0, w.start).UTC(), End: time.Unix(0, w.end).UTC(),
		Records: w.nrecs, Names: "," + strings.Join(w.names, ",") + ",", ReadOnly: w.readOnly, Data: data}
}

// batch gathers records into one chunk per account and period of store.AuditChunkSpan (records' times
// are their calls' starts: a long pull's may be far older than the batch's other records), so that no
// chunk spans that long and a lookup by time finds its chunks by their end in the store's index.
type batch struct {
	seed    [16]byte
	n       uint64
	writers map[writerKey]*chunkWriter
	order   []writerKey
}

type writerKey struct {
	account string
	period  int64
}

func newBatch() *batch {
	b := &batch{writers: map[writerKey]*chunkWriter{}}
	rand.Read(b.seed[:])
	return b
}

func (b *batch) add(fl *fields) {
	fl.n = b.n
	b.n++
	period := fl.at / int64(store.AuditChunkSpan)
	if fl.at < 0 && fl.at%int64(store.AuditChunkSpan) != 0 {
		period-- // rounded down
	}
	for _, acct := range fl.accounts {
		k := writerKey{acct, period}
		w := b.writers[k]
		if w == nil {
			w = newChunkWriter(acct)
			b.writers[k] = w
			b.order = append(b.order, k)
		}
		w.add(fl)
	}
}

func (b *batch) chunks(region string) []store.AuditChunk {
	out := make([]store.AuditChunk, 0, len(b.order))
	for _, k := range b.order {
		out = append(out, b.writers[k].chunk(region, &b.seed))
	}
	return out
}

// Event is one record of a chunk, decoded.
type Event struct {
	Account   string
	Time      time.Time
	EventID   string
	RequestID string
	region    string
	f         [numFields]string
}

func (e *Event) Name() string        { return e.f[fName] }
func (e *Event) Source() string      { return e.f[fSource] }
func (e *Event) Username() string    { return e.f[fUsername] }
func (e *Event) AccessKeyID() string { return e.f[fAccessKeyID] }
func (e *Event) ReadOnly() bool      { return ReadOnly(e.f[fName]) }

// EventResource is a resource a record names: what LookupEvents' ResourceType and ResourceName match.
type EventResource struct {
	Type, Name, ARN string
}

// Resources lists the resources the record names.
func (e *Event) Resources() []EventResource {
	var rs []EventResource
	for line := range strings.Lines(e.f[fResources]) {
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), "\t", 3)
		if len(f) == 3 {
			rs = append(rs, EventResource{Type: f[0], Name: f[1], ARN: f[2]})
		}
	}
	return rs
}

var errChunk = errors.New("audit: malformed chunk")

// Decode reads a chunk's records, in the order they were written.
func Decode(c *store.AuditChunk) ([]Event, error) {
	raw := c.Data
	d := decoder{b: raw}
	if string(d.bytes(len(chunkMagic))) != chunkMagic {
		return nil, errChunk
	}
	region := d.str()
	var seed [16]byte
	copy(seed[:], d.bytes(16))
	table := make([]string, min(d.uvarint(), uint64(len(raw)))+1)
	for i := 1; i < len(table) && d.err == nil; i++ {
		table[i] = d.str()
	}
	str := func() string {
		k := d.uvarint()
		if k >= uint64(len(table)) {
			d.err = errChunk
			return ""
		}
		return table[k]
	}
	callers := make([][opFields - callerFields]string, min(d.uvarint(), uint64(len(raw))))
	for i := range callers {
		for j := range callers[i] {
			callers[i][j] = str()
		}
	}
	ops := make([][recordFields - opFields]string, min(d.uvarint(), uint64(len(raw))))
	for i := range ops {
		for j := range ops[i] {
			ops[i][j] = str()
		}
	}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(raw)) {
		return nil, errChunk
	}
	events := make([]Event, 0, n)
	var at int64
	for range n {
		e := Event{Account: c.Account, region: region}
		at += d.varint()
		e.Time = time.Unix(0, at).UTC()
		e.EventID = eventID(&seed, d.uvarint())
		c, o := d.uvarint(), d.uvarint()
		if c >= uint64(len(callers)) || o >= uint64(len(ops)) {
			return nil, errChunk
		}
		copy(e.f[callerFields:opFields], callers[c][:])
		copy(e.f[opFields:recordFields], ops[o][:])
		for i := recordFields; i < numFields; i++ {
			e.f[i] = str()
		}
		switch d.byte() {
		case 1:
			e.RequestID = formatUUID(d.bytes(16))
		default:
			e.RequestID = d.str()
		}
		if d.err != nil {
			return nil, errChunk
		}
		events = append(events, e)
	}
	return events, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = errChunk, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err, d.b = errChunk, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if n > len(d.b) {
		d.err, d.b = errChunk, nil
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte { return d.bytes(1)[0] }

func (d *decoder) str() string { return string(d.bytes(int(min(d.uvarint(), uint64(len(d.b)+1))))) }

// eventID is the n-th record's event id of a batch: its seed plus n, as a version 4 UUID.
func eventID(seed *[16]byte, n uint64) string {
	b := *seed
	binary.BigEndian.PutUint64(b[8:], binary.BigEndian.Uint64(b[8:])+n)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b[:])
}

func formatUUID(b []byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	hex.Encode(out[9:13], b[4:6])
	hex.Encode(out[14:18], b[6:8])
	hex.Encode(out[19:23], b[8:10])
	hex.Encode(out[24:], b[10:16])
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
	return string(out[:])
}

// appendUUID appends flag 1 and the 16 bytes of a UUID in formatUUID's form (lower-case hex), which
// formatUUID gives back unchanged; it appends nothing and reports false for another string.
func appendUUID(b *[]byte, s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	var u [17]byte
	u[0] = 1
	j := 1
	for i := 0; i < len(s); i += 2 {
		if s[i] == '-' {
			i--
			continue
		}
		hi, lo := unhex[s[i]], unhex[s[i+1]]
		if hi|lo > 15 {
			return false
		}
		u[j] = hi<<4 | lo
		j++
	}
	*b = append(*b, u[:]...)
	return true
}

// unhex is the value of each lower-case hex digit, 255 for other bytes.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 255
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	return t
}()

// AppendJSON appends the event's CloudTrail record: the same JSON as Record's.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"eventVersion":`...)
	b = appendString(b, EventVersion)
	b = append(b, `,"userIdentity":`...)
	b = append(b, e.f[fIdentity]...)
	b = appendMember(b, "eventTime", e.Time.Format(timeFormat))
	b = appendMember(b, "eventSource", e.f[fSource])
	b = appendMember(b, "eventName", e.f[fName])
	b = appendMember(b, "awsRegion", e.region)
	b = appendMember(b, "sourceIPAddress", e.f[fSourceIP])
	b = appendMember(b, "userAgent", e.f[fUserAgent])
	b = appendOptional(b, "errorCode", e.f[fErrorCode])
	b = appendOptional(b, "errorMessage", e.f[fErrorMessage])
	b = append(b, `,"requestParameters":`...)
	b = appendJSONOrNull(b, e.f[fParams])
	b = append(b, `,"responseElements":`...)
	b = appendJSONOrNull(b, e.f[fResponse])
	b = appendMember(b, "requestID", e.RequestID)
	b = appendMember(b, "eventID", e.EventID)
	b = append(b, `,"readOnly":`...)
	b = strconv.AppendBool(b, e.ReadOnly())
	if rs := e.Resources(); len(rs) > 0 {
		b = append(b, `,"resources":[`...)
		for i, r := range rs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"ARN":`...)
			b = appendString(b, r.ARN)
			acct := ""
			if parts := strings.SplitN(r.ARN, ":", 6); len(parts) == 6 {
				acct = parts[4]
			}
			b = appendMember(b, "accountId", acct)
			b = appendOptional(b, "type", r.Type)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendMember(b, "eventType", "AwsApiCall")
	b = append(b, `,"managementEvent":true`...)
	b = appendMember(b, "recipientAccountId", e.Account)
	b = appendMember(b, "eventCategory", "Management")
	return append(b, '}')
}

func appendJSONOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return append(b, s...)
}
