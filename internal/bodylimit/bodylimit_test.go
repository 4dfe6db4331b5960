package bodylimit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// serve answers every request with what Read made of its body.
func serve(t *testing.T, rd *Reader, limit int64, hold time.Duration) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := rd.Read(w, r, limit, r.Header.Get("X-Sender"))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, err.Error())
			return
		}
		defer b.Release()
		time.Sleep(hold) // the body stays held while the operation runs
		if b.SHA256 != sha256.Sum256(b.Bytes) {
			t.Error("hash is not the body's")
		}
		w.Write(b.Bytes)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url string, body io.Reader, size int64, sender ...string) (int, string) {
	req, _ := http.NewRequest("POST", url, body)
	req.ContentLength = size
	if len(sender) > 0 {
		req.Header.Set("X-Sender", sender[0])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data)
}

func TestReadWithinLimits(t *testing.T) {
	rd := &Reader{Budget: NewBudget(1 << 20), Wait: time.Second, MinRate: 1 << 20, Grace: time.Second}
	srv := serve(t, rd, 1000, 0)
	if code, body := post(t, srv.URL, strings.NewReader("hello"), 5); code != 200 || body != "hello" {
		t.Fatalf("small body: %d %s", code, body)
	}
	if code, body := post(t, srv.URL, strings.NewReader(strings.Repeat("x", 1001)), 1001); code != 400 || !strings.Contains(body, "1001 bytes exceeds the limit of 1000") {
		t.Fatalf("Content-Length over the limit: %d %s", code, body)
	}
	// No Content-Length: read up to the limit, then refused.
	if code, body := post(t, srv.URL, io.MultiReader(strings.NewReader(strings.Repeat("x", 2000))), -1); code != 400 || !strings.Contains(body, "at least 1001 bytes") {
		t.Fatalf("chunked body over the limit: %d %s", code, body)
	}
	if rd.Budget.free != rd.Budget.total {
		t.Fatalf("budget not returned: %d of %d free", rd.Budget.free, rd.Budget.total)
	}
}

// TestBudgetBoundsBodiesInFlight: bodies held at once never exceed the budget; the excess is refused with
// ErrBusy after waiting, not queued without end.
func TestBudgetBoundsBodiesInFlight(t *testing.T) {
	rd := &Reader{Budget: NewBudget(3 * (1<<10 + 1)), Wait: 50 * time.Millisecond, MinRate: 1 << 20, Grace: time.Second}
	srv := serve(t, rd, 1<<10, 300*time.Millisecond)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := post(t, srv.URL, bytes.NewReader(make([]byte, 1<<10)), 1<<10, fmt.Sprint(i))
			if code == 400 && !strings.Contains(body, ErrBusy.Error()) {
				t.Errorf("refused for another reason: %s", body)
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[200] != 3 || codes[400] != 5 {
		t.Fatalf("answers %v, want 3 bodies read and 5 refused", codes)
	}
	if rd.Budget.free != rd.Budget.total {
		t.Fatalf("budget not returned: %d of %d free", rd.Budget.free, rd.Budget.total)
	}
}

// slowReader sends one byte per interval.
type slowReader struct {
	n        int
	interval time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.interval)
	s.n--
	p[0] = 'x'
	return 1, nil
}

// TestSlowBodyIsCutOff: a body trickling in is cut off when its deadline passes, and its budget returns.
func TestSlowBodyIsCutOff(t *testing.T) {
	rd := &Reader{Budget: NewBudget(1 << 20), Wait: time.Second, MinRate: 1 << 20, Grace: 300 * time.Millisecond}
	var got error
	var took time.Duration
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, got = rd.Read(w, r, 1000, "")
		took = time.Since(start)
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer srv.Close()
	post(t, srv.URL, &slowReader{n: 12, interval: 100 * time.Millisecond}, 12)
	if !errors.Is(got, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", got)
	}
	if took > 2*time.Second {
		t.Fatalf("the slow body was read for %v", took)
	}
	if rd.Budget.free != rd.Budget.total {
		t.Fatalf("budget not returned: %d of %d free", rd.Budget.free, rd.Budget.total)
	}
}

// TestRefuseWithoutReadingWhenAskedToContinue: a client that waits for 100 Continue is answered without
// its body ever being sent.
func TestRefuseWithoutReadingWhenAskedToContinue(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Refuse(w, r, 1<<20)
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	counted := &countingReader{r: bytes.NewReader(make([]byte, 1<<20))}
	req, _ := http.NewRequest("POST", srv.URL, counted)
	req.ContentLength = 1 << 20
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || counted.n > 0 {
		t.Fatalf("status %d, %d body bytes sent", res.StatusCode, counted.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestSilentBodiesHoldNoBudget: bodies announced and not sent take no budget: the next body is read.
// Before, a body's Content-Length was taken from the budget before any of it arrived, so a few idle
// connections announcing large bodies kept every other request out.
func TestSilentBodiesHoldNoBudget(t *testing.T) {
	rd := &Reader{Budget: NewBudget(512 << 10), Wait: 100 * time.Millisecond, MinRate: 1 << 20, Grace: 2 * time.Second}
	srv := serve(t, rd, 1<<20, 0)
	host := strings.TrimPrefix(srv.URL, "http://")
	for i := 0; i < 8; i++ {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", host, 1<<20)
	}
	time.Sleep(100 * time.Millisecond)
	if code, body := post(t, srv.URL, bytes.NewReader(make([]byte, 200<<10)), 200<<10); code != 200 || len(body) != 200<<10 {
		t.Fatalf("a body beside idle ones: %d %.100s", code, body)
	}
}

// TestOneSenderHoldsHalfTheBudget: bodies claimed by one access key hold at most half the budget: a
// holder of one key id cannot keep everyone else's bodies out.
func TestOneSenderHoldsHalfTheBudget(t *testing.T) {
	rd := &Reader{Budget: NewBudget(4 * (1<<10 + 1)), Wait: 50 * time.Millisecond, MinRate: 1 << 20, Grace: time.Second}
	srv := serve(t, rd, 1<<10, 300*time.Millisecond)
	var wg sync.WaitGroup
	var mu sync.Mutex
	read := map[string]int{}
	for i := 0; i < 6; i++ {
		sender := "mallory"
		if i == 5 {
			sender = "alice"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 5 {
				time.Sleep(20 * time.Millisecond) // after mallory's bodies
			}
			if code, _ := post(t, srv.URL, bytes.NewReader(make([]byte, 1<<10)), 1<<10, sender); code == 200 {
				mu.Lock()
				read[sender]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if read["mallory"] != 2 || read["alice"] != 1 {
		t.Fatalf("bodies read: %v, want mallory's 2 (half the budget) and alice's", read)
	}
}

// TestBurstThenSilenceIsCutOff: a body may not buy idle time with a burst: a pause longer than Idle ends
// it.
func TestBurstThenSilenceIsCutOff(t *testing.T) {
	rd := &Reader{Budget: NewBudget(16 << 20), Wait: time.Second, MinRate: 64 << 10, Grace: 20 * time.Second, Idle: 300 * time.Millisecond}
	type outcome struct {
		err  error
		took time.Duration
	}
	done := make(chan outcome, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, err := rd.Read(w, r, 4<<20, "")
		done <- outcome{err, time.Since(start)}
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", host, 4<<20)
	conn.Write(make([]byte, 2<<20)) // half at once, then nothing
	select {
	case o := <-done:
		if !errors.Is(o.err, ErrTimeout) || o.took > 2*time.Second {
			t.Fatalf("got %v after %v, want ErrTimeout soon after the burst", o.err, o.took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the silent body is still being read")
	}
}
