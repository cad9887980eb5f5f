// clientcheck drives a server with the official Go client (nats.go from Debian, GOPATH
// mode) and prints "PASS <check>" per check; any failure prints "FAIL <check>: <why>" and
// exits 1. Usage: clientcheck <url> core|js, or clientcheck <url,url,...> cluster
package main

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

func fail(check string, err error) {
	fmt.Printf("FAIL %s: %v\n", check, err)
	os.Exit(1)
}

func pass(check string) { fmt.Printf("PASS %s\n", check) }

func core(url string) {
	nc, err := nats.Connect(url, nats.Name("go-clientcheck"))
	if err != nil {
		fail("connect", err)
	}
	defer nc.Close()
	pass("connect")

	// pub/sub with wildcard
	var got int64
	sub, err := nc.Subscribe("go.*.x", func(m *nats.Msg) { atomic.AddInt64(&got, 1) })
	if err != nil {
		fail("subscribe", err)
	}
	for i := 0; i < 1000; i++ {
		if err := nc.Publish(fmt.Sprintf("go.%d.x", i), []byte("hello")); err != nil {
			fail("publish", err)
		}
	}
	if err := nc.Flush(); err != nil {
		fail("flush", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for atomic.LoadInt64(&got) < 1000 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := atomic.LoadInt64(&got); n != 1000 {
		fail("pubsub", fmt.Errorf("got %d of 1000", n))
	}
	sub.Unsubscribe()
	pass("pubsub")

	// request/reply with headers
	nc.Subscribe("go.svc", func(m *nats.Msg) {
		r := nats.NewMsg(m.Reply)
		r.Header.Set("X-Echo", m.Header.Get("X-In"))
		r.Data = append([]byte("re:"), m.Data...)
		m.RespondMsg(r)
	})
	req := nats.NewMsg("go.svc")
	req.Header.Set("X-In", "42")
	req.Data = []byte("ping")
	resp, err := nc.RequestMsg(req, 2*time.Second)
	if err != nil {
		fail("request", err)
	}
	if string(resp.Data) != "re:ping" || resp.Header.Get("X-Echo") != "42" {
		fail("request", fmt.Errorf("unexpected reply %q %v", resp.Data, resp.Header))
	}
	pass("request")

	// no responders
	if _, err := nc.Request("go.nobody", nil, time.Second); err != nats.ErrNoResponders {
		fail("no-responders", fmt.Errorf("expected ErrNoResponders, got %v", err))
	}
	pass("no-responders")

	// queue group: each message to exactly one member
	var q1, q2 int64
	nc.QueueSubscribe("go.q", "workers", func(m *nats.Msg) { atomic.AddInt64(&q1, 1) })
	nc.QueueSubscribe("go.q", "workers", func(m *nats.Msg) { atomic.AddInt64(&q2, 1) })
	nc.Flush()
	for i := 0; i < 200; i++ {
		nc.Publish("go.q", []byte("w"))
	}
	nc.Flush()
	deadline = time.Now().Add(5 * time.Second)
	for atomic.LoadInt64(&q1)+atomic.LoadInt64(&q2) < 200 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if t := atomic.LoadInt64(&q1) + atomic.LoadInt64(&q2); t != 200 {
		fail("queue", fmt.Errorf("queue members got %d messages, want 200", t))
	}
	pass("queue")
}

func js(url string) {
	nc, err := nats.Connect(url)
	if err != nil {
		fail("connect", err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		fail("jetstream", err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "GOORDERS", Subjects: []string{"goorders.>"}}); err != nil {
		fail("add-stream", err)
	}
	pass("add-stream")
	for i := 0; i < 100; i++ {
		ack, err := js.Publish("goorders.new", []byte(fmt.Sprintf("order-%d", i)), nats.MsgId(fmt.Sprintf("id-%d", i)))
		if err != nil {
			fail("publish", err)
		}
		if ack.Sequence != uint64(i+1) {
			fail("publish", fmt.Errorf("seq %d, want %d", ack.Sequence, i+1))
		}
	}
	ack, err := js.Publish("goorders.new", []byte("dup"), nats.MsgId("id-5"))
	if err != nil || !ack.Duplicate {
		fail("dedup", fmt.Errorf("expected duplicate ack, got %+v %v", ack, err))
	}
	pass("publish")
	sub, err := js.PullSubscribe("goorders.>", "goworker")
	if err != nil {
		fail("pull-subscribe", err)
	}
	n := 0
	for n < 100 {
		msgs, err := sub.Fetch(25, nats.MaxWait(2*time.Second))
		if err != nil {
			fail("fetch", err)
		}
		for _, m := range msgs {
			meta, err := m.Metadata()
			if err != nil {
				fail("metadata", err)
			}
			if meta.Sequence.Stream != uint64(n+1) {
				fail("fetch", fmt.Errorf("stream seq %d, want %d", meta.Sequence.Stream, n+1))
			}
			if err := m.AckSync(); err != nil {
				fail("ack", err)
			}
			n++
		}
	}
	pass("fetch")
	info, err := js.ConsumerInfo("GOORDERS", "goworker")
	if err != nil {
		fail("consumer-info", err)
	}
	if info.AckFloor.Stream != 100 || info.NumAckPending != 0 {
		fail("consumer-info", fmt.Errorf("ack floor %d, ack pending %d", info.AckFloor.Stream, info.NumAckPending))
	}
	pass("consumer-info")
	kv, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "gocfg", History: 3})
	if err != nil {
		fail("kv-create", err)
	}
	if _, err := kv.PutString("a.b", "one"); err != nil {
		fail("kv-put", err)
	}
	kv.PutString("a.b", "two")
	e, err := kv.Get("a.b")
	if err != nil || string(e.Value()) != "two" || e.Revision() != 2 {
		fail("kv-get", fmt.Errorf("%v %v", e, err))
	}
	pass("kv")
}

func main() {
	if len(os.Args) != 3 {
		fmt.Println("usage: clientcheck <url> core|js | clientcheck <url,url,...> cluster")
		os.Exit(2)
	}
	switch os.Args[2] {
	case "core":
		core(os.Args[1])
	case "js":
		js(os.Args[1])
	case "cluster":
		cluster(os.Args[1])
	default:
		fmt.Println("unknown mode")
		os.Exit(2)
	}
	fmt.Println("ALL PASS")
}
