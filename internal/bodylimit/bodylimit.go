// Package bodylimit reads request bodies that must be held whole in memory (the ECR, IAM and STS APIs
// carry their parameters in the body, and a signature covers all of it) without letting clients hold
// that memory, or the connection, for as long or as much as they like:
//
//   - each operation has a size limit, checked against Content-Length before anything is read;
//   - all bodies being read share one server-wide budget of bytes, so many clients — most of them not yet
//     authenticated, since a signature is checked only once its body is in — cannot exhaust memory;
//   - a body must arrive within a deadline that grows with its size: a body trickling a byte at a time is
//     cut off.
package bodylimit

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Errors of Read, matched with errors.Is.
var (
	ErrTooLarge = errors.New("request body too large")
	ErrBusy     = errors.New("too many request bodies being read")
	ErrTimeout  = errors.New("request body not received in time")
)

// TooLargeError tells how large a refused body was, as far as it is known.
type TooLargeError struct {
	Size  int64 // bytes sent (at least this many when Exact is false)
	Exact bool
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("request body of %s exceeds the limit of %d bytes", e.Bytes(), e.Limit)
}

// Bytes is the body's size in words: "N bytes", or "at least N bytes".
func (e *TooLargeError) Bytes() string {
	if e.Exact {
		return fmt.Sprintf("%d bytes", e.Size)
	}
	return fmt.Sprintf("at least %d bytes", e.Size)
}

func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// Budget is the bytes all bodies being read may hold at once, and the share of them one sender (one
// access key) may hold. The zero value is unusable; use NewBudget.
type Budget struct {
	mu      sync.Mutex
	cond    *sync.Cond
	free    int64
	total   int64
	share   int64            // the most one sender holds
	senders map[string]int64 // what each sender holds
}

// NewBudget returns a budget of n bytes, of which one sender may hold half.
func NewBudget(n int64) *Budget {
	b := &Budget{free: n, total: n, share: n / 2, senders: map[string]int64{}}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire takes n bytes for sender, waiting at most wait for them to be free.
func (b *Budget) acquire(sender string, n int64, wait time.Duration) bool {
	if n > b.share {
		return false
	}
	deadline := time.Now().Add(wait)
	timer := time.AfterFunc(wait, func() { b.mu.Lock(); b.cond.Broadcast(); b.mu.Unlock() })
	defer timer.Stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.free < n || b.senders[sender]+n > b.share {
		if !time.Now().Before(deadline) {
			return false
		}
		b.cond.Wait()
	}
	b.free -= n
	b.senders[sender] += n
	return true
}

func (b *Budget) release(sender string, n int64) {
	b.mu.Lock()
	b.free += n
	if b.senders[sender] -= n; b.senders[sender] <= 0 {
		delete(b.senders, sender)
	}
	b.cond.Broadcast()
	b.mu.Unlock()
}

// Reader reads bodies under a budget.
type Reader struct {
	Budget *Budget
	// Wait is how long a body waits for budget before it is refused with ErrBusy.
	Wait time.Duration
	// MinRate is the slowest a body may arrive, in bytes per second on average, after a grace of Grace;
	// and no read may wait longer than Idle for the next bytes.
	MinRate int64
	Grace   time.Duration
	Idle    time.Duration
}

// Body is a body read whole, with the SHA-256 of its bytes.
type Body struct {
	Bytes   []byte
	SHA256  [sha256.Size]byte
	release func()
}

// Release returns the body's bytes to the budget; the caller must not use Bytes afterwards.
func (b *Body) Release() {
	if b.release != nil {
		b.release()
		b.release = nil
	}
}

// step is how much a body's buffer grows at least, and how much of it a read fills at most.
const step = 64 << 10

// Read reads r's body, at most limit bytes, hashing it as it arrives; sender names who sends it (the
// access key it claims) for its share of the budget. A body holds budget only for the memory it fills —
// a client that announces a large body and sends nothing holds none — and must keep arriving: at MinRate
// on average after Grace, with no pause longer than Idle, or it is cut off. Refusals leave the rest of the
// body unread; Refuse then answers so the client sees the answer.
func (rd *Reader) Read(w http.ResponseWriter, r *http.Request, limit int64, sender string) (*Body, error) {
	if r.ContentLength > limit {
		return nil, &TooLargeError{Size: r.ContentLength, Exact: true, Limit: limit}
	}
	rate := float64(max(rd.MinRate, 1))
	start := time.Now()
	rc := http.NewResponseController(w)
	defer rc.SetReadDeadline(time.Time{})

	var held int64 // budget taken: the buffer's capacity once it grew
	release := func() { rd.Budget.release(sender, held); held = 0 }
	// Until its first bytes arrive, a body holds no more than any connection does.
	buf := make([]byte, 0, min(512, limit+1))
	h := sha256.New()
	src := r.Body
	if u, ok := src.(interface{ Unwrap() io.ReadCloser }); ok { // under a wrapper that sets deadlines of its own
		src = u.Unwrap()
	}
	body := io.LimitReader(src, limit+1)
	for {
		if cap(buf)-len(buf) < min(step/2, cap(buf)/2) && int64(cap(buf)) <= limit { // grow, paying first
			c := int64(cap(buf)) + max(step, int64(cap(buf)))
			if r.ContentLength >= 0 {
				c = min(c, r.ContentLength+1)
			}
			c = min(c, limit+1)
			if c > held {
				if !rd.Budget.acquire(sender, c-held, rd.Wait) {
					release()
					return nil, ErrBusy
				}
				held = c
			}
			buf = append(make([]byte, 0, c), buf...)
		}
		// The bytes so far, and those of this read, must have arrived at the minimum rate.
		due := start.Add(rd.Grace + time.Duration(float64(len(buf)+step)/rate*float64(time.Second)))
		if idle := time.Now().Add(rd.Idle); rd.Idle > 0 && idle.Before(due) {
			due = idle
		}
		rc.SetReadDeadline(due)
		n, err := body.Read(buf[len(buf):min(cap(buf), len(buf)+step)])
		h.Write(buf[len(buf) : len(buf)+n])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			release()
			return nil, &TooLargeError{Size: int64(len(buf)), Limit: limit}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			release()
			if isTimeout(err) {
				return nil, ErrTimeout
			}
			return nil, err
		}
	}
	out := &Body{Bytes: buf, release: release}
	h.Sum(out.SHA256[:0])
	return out, nil
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// Refused prepares the answer to a Read that failed with err: a body too large is read on and dropped, up
// to drain more bytes, and its TooLargeError then counts them; a refused body closes the connection after
// the answer. Callers map err to their protocol's error afterwards.
func Refused(w http.ResponseWriter, r *http.Request, err error, drain int64) {
	var tl *TooLargeError
	switch {
	case errors.As(err, &tl):
		n := Refuse(w, r, drain)
		if !tl.Exact { // no Content-Length: count what is sent, within reason
			tl.Size += n
			tl.Exact = n < drain
		}
	case errors.Is(err, ErrBusy):
		Refuse(w, r, 0)
	case errors.Is(err, ErrTimeout):
		w.Header().Set("Connection", "close")
	}
}

// Refuse prepares the answer to a request whose body is refused unread or read in part: the connection
// closes after the answer, and up to drain more bytes of the body are read and dropped first (within a
// few seconds), so a client that writes its whole body before reading sees the answer rather than a
// broken pipe. It returns the number of body bytes that were read and dropped.
func Refuse(w http.ResponseWriter, r *http.Request, drain int64) int64 {
	w.Header().Set("Connection", "close")
	if strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return 0 // the client waits for a go-ahead before it sends the body: it never gets one
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := io.CopyN(io.Discard, r.Body, drain)
	rc.SetReadDeadline(time.Time{})
	return n
}
