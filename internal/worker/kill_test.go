package worker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// TestWorkerKillSoak kills a worker mid-job, kill -9, again and again while
// 30 jobs run on two workers, starting a new worker each time. Every job
// must complete and be published once; jobs whose worker was killed run
// again (recover.go puts them back 15 s after their lease expired).
// TestWorkerKilledMidJob is the one-trial version in make test.
func TestWorkerKillSoak(t *testing.T) {
	soakOnly(t)
	const trials, jobs = 5, 30
	e := newEnv(t)
	e.s3.put(inBucket, "long.mp4", longMP4)
	ws := []*proc{e.startWorker("ABRFLEET_BATCH_SLOTS=2"), e.startWorker("ABRFLEET_BATCH_SLOTS=2")}
	all := append([]*proc(nil), ws...)
	ids := make([]string, jobs)
	start := time.Now()
	for i := range ids {
		ids[i] = fmt.Sprintf("kill-%02d", i)
		e.submit(ids[i], "long.mp4")
	}
	inFlight := 0 // children killed with their worker
	for trial := range trials {
		v := trial % 2
		e.waitChildWithin(ws[v], 2*time.Minute)
		inFlight += len(ws[v].children())
		if err := ws[v].cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-ws[v].exited
		t.Logf("trial %d: killed worker %d at %v", trial+1, v, time.Since(start).Round(time.Millisecond))
		ws[v] = e.startWorker("ABRFLEET_BATCH_SLOTS=2")
		all = append(all, ws[v])
		time.Sleep(5 * time.Second)
	}
	st := e.waitAll(ids, 15*time.Minute)
	wall := time.Since(start)
	waitLogged(t, ids, all...)
	tl := tally(all...)
	completed, lost, dup, reruns := 0, 0, 0, 0
	for _, id := range ids {
		s := st[id]
		if s == nil || s.Info.State != asynq.TaskStateCompleted {
			lost++
			if s == nil {
				t.Errorf("%s: not found", id)
			} else {
				t.Errorf("%s: %s %q", id, s.Info.State, s.Info.LastErr)
			}
			continue
		}
		completed++
		e.checkPublished(id, s.Result) // master.m3u8 stored once
		if n := len(tl.done[id]); n != 1 {
			dup++
			t.Errorf("%s: %d attempts logged \"job done\", want 1", id, n)
		}
		reruns += s.Result.Attempt - 1
	}
	for _, w := range ws {
		if !w.alive() {
			t.Error("a worker that was not killed died")
		}
	}
	t.Logf("%d kill -9 of a worker mid-job, %d transcodes killed with them; %d jobs: %d completed, %d lost, %d duplicated; %d attempts re-run; all done %v after the first submit",
		trials, inFlight, jobs, completed, lost, dup, reruns, wall.Round(time.Millisecond))
}
