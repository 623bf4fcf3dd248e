package replica

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The leader scenarios are scripts, one command a line (# starts a comment):
//
//	new SELF REPLICAS ISR LEO HW [lag=DUR] [pe=N]   NewLeader at t=0 (lag 10s, partition epoch 1)
//	at DUR                  later calls happen at t0+DUR
//	write LEO               LocalWritten (the leader's LEO, not yet durable)
//	local LEO               LocalAppended (durable); also sets the leader LEO
//	fetch ID OFF            FollowerFetched(ID, OFF, leader LEO, now)
//	minisr N                SetMinISR
//	ineligible LIST         SetIneligible
//	update none|LIST        ISRUpdate(now) proposes nothing / exactly LIST
//	pending LIST            ISRPending
//	commit LIST PE          ISRCommitted
//	abandon                 ISRAbandoned
//	replicas LIST ISR PE    SetReplicas
//	moved yes|no            whether the last local/fetch/commit moved the HW
//	hw N                    HighWatermark
//	isr LIST / maximal LIST ISR / MaximalISR
//	enough N yes|no         EnoughReplicas(N)
//	follower ID LEO CAUGHT  Follower(ID): LEO and LastCaughtUp (t0+DUR, or "never")
//
// LIST is comma separated broker ids, "-" for none.
func runScript(t *testing.T, script string) {
	t.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	var l *Leader
	var leo int64
	var moved bool
	hwLog := []int64{}
	for n, line := range strings.Split(script, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("line %d %q: %s", n+1, strings.TrimSpace(line), fmt.Sprintf(format, args...))
		}
		num := func(s string) int64 {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				fail("bad number %q", s)
			}
			return v
		}
		list := func(s string) []int32 {
			if s == "-" {
				return nil
			}
			var ids []int32
			for _, p := range strings.Split(s, ",") {
				ids = append(ids, int32(num(p)))
			}
			return ids
		}
		dur := func(s string) time.Duration {
			d, err := time.ParseDuration(s)
			if err != nil {
				fail("bad duration %q", s)
			}
			return d
		}
		yes := func(s string) bool { return s == "yes" }
		sameSet := func(got, want []int32) bool {
			a, b := slices.Clone(got), slices.Clone(want)
			slices.Sort(a)
			slices.Sort(b)
			return slices.Equal(a, b)
		}
		switch f[0] {
		case "new":
			lag, pe := 10*time.Second, int32(1)
			for _, o := range f[6:] {
				k, v, _ := strings.Cut(o, "=")
				switch k {
				case "lag":
					lag = dur(v)
				case "pe":
					pe = int32(num(v))
				}
			}
			leo = num(f[4])
			l = NewLeader(int32(num(f[1])), 7, pe, list(f[2]), list(f[3]), leo, num(f[5]), now, lag)
		case "at":
			now = t0.Add(dur(f[1]))
		case "write":
			leo = num(f[1])
			l.LocalWritten(leo)
		case "local":
			leo = max(leo, num(f[1]))
			moved = l.LocalAppended(num(f[1]))
		case "fetch":
			moved = l.FollowerFetched(int32(num(f[1])), num(f[2]), leo, now)
		case "minisr":
			l.SetMinISR(int(num(f[1])))
		case "ineligible":
			moved = l.SetIneligible(list(f[1]))
		case "update":
			isr, ok := l.ISRUpdate(now)
			if f[1] == "none" {
				if ok {
					fail("ISRUpdate proposes %v", isr)
				}
			} else if !ok || !slices.Equal(isr, list(f[1])) {
				fail("ISRUpdate = %v %v, want %v", isr, ok, list(f[1]))
			}
		case "pending":
			l.ISRPending(list(f[1]))
		case "commit":
			moved = l.ISRCommitted(list(f[1]), int32(num(f[2])))
		case "abandon":
			l.ISRAbandoned()
		case "replicas":
			moved = l.SetReplicas(list(f[1]), list(f[2]), int32(num(f[3])), now)
		case "moved":
			if moved != yes(f[1]) {
				fail("HW moved = %v", moved)
			}
		case "hw":
			if got := l.HighWatermark(); got != num(f[1]) {
				fail("HW = %d", got)
			}
		case "isr":
			if got := l.ISR(); !sameSet(got, list(f[1])) {
				fail("ISR = %v", got)
			}
		case "maximal":
			if got := l.MaximalISR(); !sameSet(got, list(f[1])) {
				fail("MaximalISR = %v", got)
			}
		case "enough":
			if got := l.EnoughReplicas(int(num(f[1]))); got != yes(f[2]) {
				fail("EnoughReplicas = %v", got)
			}
		case "follower":
			st, ok := l.Follower(int32(num(f[1])))
			if !ok {
				fail("no such follower")
			}
			want := time.Time{}
			if f[3] != "never" {
				want = t0.Add(dur(f[3]))
			}
			if st.LEO != num(f[2]) || !st.LastCaughtUp.Equal(want) {
				fail("follower = LEO %d caught up %v, want %s %s", st.LEO, st.LastCaughtUp.Sub(t0), f[2], f[3])
			}
		default:
			fail("unknown command")
		}
		if l != nil {
			hwLog = append(hwLog, l.HighWatermark())
		}
	}
	// Whatever happened, the high watermark never went backwards.
	for i := 1; i < len(hwLog); i++ {
		if hwLog[i] < hwLog[i-1] {
			t.Fatalf("HW went back from %d to %d", hwLog[i-1], hwLog[i])
		}
	}
}

func TestLeaderScripts(t *testing.T) {
	for _, tc := range []struct{ name, script string }{
		{"hw is the min over the isr", `
			new 1 1,2,3 1,2,3 100 100
			hw 100
			write 110
			local 110
			moved no       # followers have not fetched 110 yet
			fetch 2 110
			moved no
			hw 100
			fetch 3 105
			moved yes
			hw 105
			fetch 3 110
			hw 110
			update none
		`},
		{"the leader counts with its durable end", `
			new 1 1,2 1,2 0 0
			write 50       # appended, not yet synced
			fetch 2 50     # the follower synced it already
			hw 0
			local 50
			moved yes
			hw 50
		`},
		{"unknown follower LEOs hold the hw at a new leader", `
			new 1 1,2,3 1,2,3 100 90
			hw 90
			local 120
			hw 90
			fetch 2 120
			hw 90          # 3 has not fetched in this epoch
			fetch 3 100
			hw 100
		`},
		{"hw never moves backwards", `
			new 1 1,2,3 1,2,3 100 90
			fetch 2 50     # an isr member far behind (it truncated)
			hw 90
			fetch 3 100
			hw 90
			fetch 2 95
			hw 95
			commit 1,2,3 2
			hw 95
			fetch 2 10     # goes back again
			hw 95
			local 100
			hw 95
		`},
		{"a follower lags, leaves the isr, returns and rejoins", `
			new 1 1,2,3 1,2,3 100 100
			fetch 2 100
			fetch 3 100
			follower 3 100 0s
			at 1s
			write 110
			fetch 2 100    # reached the leader LEO of its previous fetch: caught up at 0s
			follower 2 100 0s
			fetch 2 110
			follower 2 110 1s
			local 110
			hw 100         # 3 is behind
			at 10s
			update none    # 3 was caught up at 0s: lag 10s not exceeded
			at 10001ms
			update 1,2
			pending 1,2
			maximal 1,2,3  # a pending shrink takes effect when committed
			hw 100
			update none    # one change in flight at a time
			commit 1,2 2
			moved yes
			hw 110
			isr 1,2
			enough 2 yes
			enough 3 no
			at 12s
			fetch 3 105    # back, still behind
			follower 3 105 0s
			update none
			at 13s
			fetch 3 110
			follower 3 110 13s
			update 1,2,3
			pending 1,2,3
			maximal 1,2,3
			commit 1,2,3 3
			isr 1,2,3
			enough 3 yes
		`},
		{"a caught-up follower outside the isr holds the hw", `
			new 1 1,2,3 1,2 100 100
			fetch 2 100
			fetch 3 100    # caught up, not yet in the isr
			write 120
			local 120
			fetch 2 120
			hw 100         # 3 is about to join: the hw waits for it
			update 1,2,3
			at 20s
			fetch 2 120    # 3 lagged for 20s: no longer caught up
			hw 120
		`},
		{"a fenced follower out of the isr no longer holds the hw", `
			new 1 1,2,3 1,2,3 100 100 lag=30s
			fetch 2 100
			fetch 3 100
			at 1s
			write 120      # 3 is killed: it never fetches 120
			local 120
			fetch 2 120
			hw 100
			at 10s
			commit 1,2 2   # the controller fenced 3 out of the isr
			moved no       # 3 was caught up at 0s and could rejoin: it still holds the hw
			hw 100
			ineligible 3   # the image shows 3 fenced
			moved yes
			hw 120
			update none    # and it is not proposed back
			at 11s
			fetch 3 120    # restarted, fetching, still fenced
			update none
			ineligible -   # unfenced
			update 1,2,3
		`},
		{"a pending expansion counts in the hw", `
			new 1 1,2,3 1,2 100 100
			fetch 3 100
			update 1,2,3
			pending 1,2,3
			maximal 1,2,3
			at 30s
			write 130
			local 130
			fetch 2 130
			hw 100         # 3 is in the maximal isr though it stopped fetching
			commit 1,2 2   # the controller refused (current isr again)
			moved yes
			hw 130
			update none    # 3 is behind: nothing to propose
		`},
		{"shrink under a waiting acks=all produce", `
			new 1 1,2,3 1,2,3 100 100
			fetch 2 100
			fetch 3 100
			write 101      # an acks=all produce of offset 100 waits for hw 101
			local 101
			hw 100
			at 11s         # neither follower fetched 101
			update 1
			pending 1
			hw 100
			commit 1 2
			moved yes
			hw 101         # the produce completes ...
			enough 2 no    # ... with NOT_ENOUGH_REPLICAS_AFTER_APPEND (min.insync.replicas=2)
			enough 1 yes
		`},
		{"shrink under a waiting produce, Kafka's min-isr hw rule", `
			new 1 1,2,3 1,2,3 100 100
			minisr 2
			fetch 2 100
			fetch 3 100
			write 101
			local 101
			at 11s
			update 1
			pending 1
			commit 1 2
			moved no
			hw 100         # under min isr: the hw stays, the produce times out
			enough 2 no
			at 12s
			fetch 2 101    # 2 returns
			update 1,2
			pending 1,2
			hw 100
			commit 1,2 3
			moved yes
			hw 101
		`},
		{"shrink to the min isr still completes", `
			new 1 1,2,3 1,2,3 100 100
			minisr 2
			fetch 2 100
			fetch 3 100
			write 101
			local 101
			fetch 2 101
			at 11s
			update 1,2
			pending 1,2
			commit 1,2 2
			moved yes
			hw 101
			enough 2 yes
		`},
		{"min.insync.replicas refuses writes", `
			new 1 1,2,3 1 100 100
			enough 1 yes
			enough 2 no
			local 110
			hw 110         # the leader alone
		`},
		{"the epoch start offset blocks a premature join", `
			new 1 1,2,3 1,2 100 80 # became leader at LEO 100, the old hw 80
			fetch 2 100
			hw 100
			fetch 3 90     # past the hw of the previous epoch, short of the epoch start
			update none
			hw 100
			fetch 3 99
			update none
			fetch 3 100
			update 1,2,3
		`},
		{"an expansion needs the hw too", `
			new 1 1,2,3 1,2 100 100
			write 150
			local 150
			fetch 2 150
			hw 150
			fetch 3 120    # past the epoch start, behind the hw
			update none
			fetch 3 150
			update 1,2,3
		`},
		{"isr changes are fenced by partition epoch", `
			new 1 1,2,3 1,2,3 100 100 pe=5
			fetch 2 100
			at 11s
			update 1,2
			pending 1,2
			commit 1,2,3 4 # an old answer
			maximal 1,2,3
			isr 1,2,3
			update none    # still in flight
			commit 1,2 6
			isr 1,2
			update none
			commit 1,2,3 5 # older than what is applied: ignored
			isr 1,2
		`},
		{"a rejection ends the change in flight", `
			new 1 1,2,3 1,2,3 100 100 pe=5
			fetch 2 100
			at 11s
			update 1,2
			pending 1,2
			commit 1,2,3 5 # rejected: the current isr again
			isr 1,2,3
			update 1,2     # may ask again
		`},
		{"an abandoned change lets the leader ask again", `
			new 1 1,2,3 1,2,3 100 100
			fetch 2 100
			at 11s
			update 1,2
			pending 1,2
			update none
			abandon
			isr 1,2,3
			maximal 1,2,3
			update 1,2
		`},
		{"a reassignment keeps the epoch start and the followers", `
			new 1 1,2,3 1,2,3 100 80
			fetch 2 100
			fetch 3 100
			write 150
			local 150
			fetch 2 150
			replicas 1,2,4 1,2 2 # 3 leaves, 4 arrives
			moved yes
			hw 150
			follower 2 150 0s
			follower 4 -1 never
			fetch 4 120    # behind the hw
			update none
			fetch 4 150
			update 1,2,4
			replicas 1,2,4 1 1 # older than what is applied: ignored
			isr 1,2
		`},
		{"a reassignment's new ISR member counts at once", `
			new 1 1,2 1,2 100 100
			fetch 2 100
			replicas 1,2,3 1,2,3 2
			write 110
			local 110
			fetch 2 110
			hw 100         # 3 is in the isr, unknown yet
			fetch 3 110
			hw 110
		`},
		{"the leader stays in the isr", `
			new 1 1,2 2 100 100
			isr 1,2
			at 11s
			update 1
		`},
		{"a fetch from a non-replica is ignored", `
			new 1 1,2 1,2 100 100
			fetch 9 100
			moved no
			fetch 2 100
			hw 100
		`},
	} {
		t.Run(tc.name, func(t *testing.T) { runScript(t, tc.script) })
	}
}
