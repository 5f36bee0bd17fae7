package ring

import (
	"time"

	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// The lifecycler's decisions, free of I/O: they take the descriptor and the
// time and return the entry to write.

// joinPlan is how an instance joins: the entry it starts from and whether
// it resumes as ACTIVE (its entry survived a restart) or goes through
// PENDING and JOINING.
type joinPlan struct {
	entry   ringpb.InstanceDesc
	resumed bool
}

// planJoin decides how self (ID, address, zone) joins the ring d (nil when
// the key is empty). Its tokens are, in order of preference, the ones in
// the tokens file, the ones of its surviving entry, then random ones not
// owned by other instances, topped up to numTokens.
func planJoin(d *Desc, self ringpb.InstanceDesc, fileTokens []uint32, numTokens int, now time.Time, rnd func() uint32) joinPlan {
	var prev ringpb.InstanceDesc
	var exists bool
	if d != nil {
		prev, exists = d.Instances[self.Id]
		if prev.State == Left {
			exists = false
		}
	}
	have := fileTokens
	if len(have) == 0 && exists {
		have = prev.Tokens
	}
	taken := map[uint32]bool{}
	if d != nil {
		for id, in := range d.Instances {
			if id == self.Id || in.State == Left {
				continue
			}
			for _, t := range in.Tokens {
				taken[t] = true
			}
		}
	}
	entry := self
	entry.Tokens = generateTokens(have, numTokens, taken, rnd)
	entry.RegisteredUnixMs = now.UnixMilli()
	if exists && prev.RegisteredUnixMs != 0 {
		entry.RegisteredUnixMs = prev.RegisteredUnixMs
	}
	// An entry that is still ACTIVE with its tokens means a restart that
	// kept its place (a WAL-based ingester): take it over as it is.
	if exists && prev.State == Active && len(prev.Tokens) > 0 {
		entry.State = Active
		return joinPlan{entry: entry, resumed: true}
	}
	entry.State = Pending
	return joinPlan{entry: entry}
}

// writeEntry puts entry into d with a heartbeat newer than the stored one,
// so it wins every merge, and returns what was written.
func writeEntry(d *Desc, entry ringpb.InstanceDesc, now time.Time) ringpb.InstanceDesc {
	prev := d.Instances[entry.Id]
	entry.HeartbeatUnixMs = nextHeartbeat(now, max(prev.HeartbeatUnixMs, entry.HeartbeatUnixMs))
	entry = cloneInstance(entry)
	if entry.State == Pending {
		entry.Tokens = nil // tokens are claimed on JOINING
	}
	d.Instances[entry.Id] = entry
	return entry
}
