package main

// The "cluster" mode: replicated JetStream (R3 stream, R3 durable, R3 KV bucket) through the
// Go client connected to every server of a three-server cluster, across the loss of the
// stream's leader. The test process stops that server when told ("STOP <server>" on stdout)
// and answers with a line on stdin once it is gone.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

const r3Msgs = 100

// publishUntilAcked publishes one message with its id until a PubAck comes: during an
// election a publish may time out or find no responder, and sent again with the same id it
// is stored once (a retry of one that was stored is answered as a duplicate).
func publishUntilAcked(js nats.JetStreamContext, subject, data, id string) (*nats.PubAck, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ack, err := js.Publish(subject, []byte(data), nats.MsgId(id), nats.AckWait(2*time.Second))
		if err == nil {
			return ack, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// untilOK runs f until it succeeds or 30 s pass (API calls while the cluster elects a leader).
func untilOK[T any](f func() (T, error)) (T, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := f()
		if err == nil || time.Now().After(deadline) {
			return v, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fetchRange fetches and acknowledges until every stream sequence in [from, to] was seen.
func fetchRange(sub *nats.Subscription, from, to uint64) error {
	seen := map[uint64]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for uint64(len(seen)) < to-from+1 {
		if time.Now().After(deadline) {
			return fmt.Errorf("saw %d of %d messages", len(seen), to-from+1)
		}
		// An error other than a timeout is a leader change of the consumer: ask again.
		msgs, err := sub.Fetch(25, nats.MaxWait(2*time.Second))
		if err != nil && !errors.Is(err, nats.ErrTimeout) {
			time.Sleep(100 * time.Millisecond)
		}
		for _, m := range msgs {
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			s := meta.Sequence.Stream
			if s < from || s > to {
				return fmt.Errorf("stream seq %d outside [%d, %d]", s, from, to)
			}
			if want := fmt.Sprintf("m-%d", s); string(m.Data) != want {
				return fmt.Errorf("seq %d holds %q, want %q", s, m.Data, want)
			}
			if err := m.AckSync(nats.AckWait(5 * time.Second)); err != nil {
				continue // acked again at its redelivery
			}
			seen[s] = true
		}
	}
	return nil
}

func cluster(urls string) {
	nc, err := nats.Connect(urls, nats.Name("go-clientcheck-cluster"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		fail("connect", err)
	}
	defer nc.Close()
	js, err := nc.JetStream(nats.MaxWait(5 * time.Second))
	if err != nil {
		fail("jetstream", err)
	}

	// A cluster just started may have no meta leader yet; an equal create is idempotent.
	si, err := untilOK(func() (*nats.StreamInfo, error) {
		return js.AddStream(&nats.StreamConfig{Name: "GOR3", Subjects: []string{"gor3.>"}, Replicas: 3})
	})
	if err != nil {
		fail("add-stream", err)
	}
	if si.Config.Replicas != 3 {
		fail("add-stream", fmt.Errorf("replicas %d", si.Config.Replicas))
	}
	pass("add-stream")

	for i := 1; i <= r3Msgs; i++ {
		ack, err := publishUntilAcked(js, "gor3.x", fmt.Sprintf("m-%d", i), fmt.Sprintf("id-%d", i))
		if err != nil {
			fail("publish", err)
		}
		if ack.Sequence != uint64(i) || ack.Duplicate {
			fail("publish", fmt.Errorf("ack %+v for message %d", ack, i))
		}
	}
	pass("publish")

	// Every replica current, as STREAM.INFO's cluster block says.
	var leader string
	if _, err := untilOK(func() (bool, error) {
		si, err := js.StreamInfo("GOR3")
		if err != nil {
			return false, err
		}
		if si.Cluster == nil || si.Cluster.Leader == "" || len(si.Cluster.Replicas) != 2 {
			return false, fmt.Errorf("cluster info %+v", si.Cluster)
		}
		for _, r := range si.Cluster.Replicas {
			if !r.Current {
				return false, fmt.Errorf("replica %s not current", r.Name)
			}
		}
		if si.State.Msgs != r3Msgs {
			return false, fmt.Errorf("%d messages", si.State.Msgs)
		}
		leader = si.Cluster.Leader
		return true, nil
	}); err != nil {
		fail("stream-info", err)
	}
	pass("stream-info")

	sub, err := js.PullSubscribe("gor3.>", "gor3w", nats.BindStream("GOR3"))
	if err != nil {
		fail("pull-subscribe", err)
	}
	ci, err := js.ConsumerInfo("GOR3", "gor3w")
	if err != nil || ci.Config.Replicas != 0 && ci.Config.Replicas != 3 || ci.Cluster == nil || len(ci.Cluster.Replicas) != 2 {
		fail("consumer-info", fmt.Errorf("%+v %v", ci, err))
	}
	if err := fetchRange(sub, 1, r3Msgs/2); err != nil {
		fail("fetch", err)
	}
	pass("fetch")

	kv, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "gor3kv", Replicas: 3, History: 5})
	if err != nil {
		fail("kv-create", err)
	}
	rev, err := kv.PutString("cfg", "one")
	if err != nil {
		fail("kv-put", err)
	}
	if rev, err = kv.Update("cfg", []byte("two"), rev); err != nil {
		fail("kv-update", err)
	}
	if _, err := kv.Update("cfg", []byte("stale"), rev-1); err == nil {
		fail("kv-update", errors.New("an update at an old revision was taken"))
	}
	pass("kv")

	// The stream's leader goes away.
	fmt.Printf("STOP %s\n", leader)
	in := bufio.NewReader(os.Stdin)
	if line, err := in.ReadString('\n'); err != nil || strings.TrimSpace(line) != "STOPPED" {
		fail("stop", fmt.Errorf("%q %v", line, err))
	}

	for i := r3Msgs + 1; i <= 2*r3Msgs; i++ {
		ack, err := publishUntilAcked(js, "gor3.x", fmt.Sprintf("m-%d", i), fmt.Sprintf("id-%d", i))
		if err != nil {
			fail("publish-after", err)
		}
		if ack.Sequence != uint64(i) {
			fail("publish-after", fmt.Errorf("ack %+v for message %d", ack, i))
		}
	}
	// A message published again with an id of before the loss is a duplicate.
	ack, err := publishUntilAcked(js, "gor3.x", "again", "id-7")
	if err != nil || !ack.Duplicate || ack.Sequence != 7 {
		fail("dedup-after", fmt.Errorf("%+v %v", ack, err))
	}
	pass("publish-after")

	si, err = untilOK(func() (*nats.StreamInfo, error) {
		si, err := js.StreamInfo("GOR3")
		if err == nil && (si.Cluster == nil || si.Cluster.Leader == "" || si.Cluster.Leader == leader) {
			err = fmt.Errorf("cluster info %+v", si.Cluster)
		}
		return si, err
	})
	if err != nil {
		fail("new-leader", err)
	}
	if si.State.Msgs != 2*r3Msgs || si.State.LastSeq != 2*r3Msgs {
		fail("new-leader", fmt.Errorf("state %+v", si.State))
	}
	pass("new-leader")

	if err := fetchRange(sub, r3Msgs/2+1, 2*r3Msgs); err != nil {
		fail("fetch-after", err)
	}
	pass("fetch-after")
	ci, err = untilOK(func() (*nats.ConsumerInfo, error) {
		ci, err := js.ConsumerInfo("GOR3", "gor3w")
		if err == nil && (ci.AckFloor.Stream != 2*r3Msgs || ci.NumAckPending != 0 || ci.NumPending != 0) {
			err = fmt.Errorf("ack floor %d, ack pending %d, pending %d", ci.AckFloor.Stream, ci.NumAckPending, ci.NumPending)
		}
		return ci, err
	})
	if err != nil {
		fail("consumer-after", err)
	}
	pass("consumer-after")

	e, err := untilOK(func() (nats.KeyValueEntry, error) { return kv.Get("cfg") })
	if err != nil || string(e.Value()) != "two" || e.Revision() != rev {
		fail("kv-after", fmt.Errorf("%v %v", e, err))
	}
	// Retried, an update that was taken but not answered finds its own value.
	if _, err := untilOK(func() (uint64, error) {
		if e, err := kv.Get("cfg"); err == nil && string(e.Value()) == "three" {
			return e.Revision(), nil
		}
		return kv.Update("cfg", []byte("three"), rev)
	}); err != nil {
		fail("kv-after", err)
	}
	if _, err := kv.Create("cfg", []byte("again")); err == nil {
		fail("kv-after", errors.New("a create of an existing key was taken"))
	}
	pass("kv-after")
}
