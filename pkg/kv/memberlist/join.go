package memberlist

import (
	"context"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"
)

// resolveTimeout bounds one resolution of the -memberlist.join names.
const resolveTimeout = 10 * time.Second

// join resolves -memberlist.join and joins the addresses that are not
// members yet. It reports whether there was nothing to do or at least one
// join succeeded.
func (k *KV) join(ctx context.Context) bool {
	ml := k.ml.Load()
	if ml == nil || len(k.cfg.Join) == 0 {
		return true
	}
	known := map[string]bool{ml.LocalNode().Address(): true}
	for _, n := range ml.Members() {
		known[n.Address()] = true
	}
	var addrs []string
	for _, a := range k.resolve(ctx) {
		if !known[a] {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return true
	}
	n, err := ml.Join(addrs)
	if n == 0 {
		k.m.joinFailures.Inc()
		k.logger.Warn("Joining the memberlist cluster", "addrs", strings.Join(addrs, ","), "err", err)
		return false
	}
	k.logger.Info("Joined the memberlist cluster", "contacted", n, "members", ml.NumMembers())
	return true
}

// resolve turns the -memberlist.join entries into ip:port addresses; a name
// gives every address it resolves to.
func (k *KV) resolve(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	var out []string
	for _, entry := range k.cfg.Join {
		host, port, err := net.SplitHostPort(entry)
		if err != nil {
			host, port = entry, strconv.Itoa(k.cfg.BindPort)
		}
		if net.ParseIP(host) != nil {
			out = append(out, net.JoinHostPort(host, port))
			continue
		}
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			k.logger.Warn("Resolving a -memberlist.join name", "name", host, "err", err)
			continue
		}
		for _, ip := range ips {
			out = append(out, net.JoinHostPort(ip.IP.String(), port))
		}
	}
	return out
}

func randPerm(n int) []int { return rand.Perm(n) }
