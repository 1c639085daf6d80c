package topology

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// NodeView is one line of CLUSTER NODES: what the reporting node believes about a node.
type NodeView struct {
	ID       string
	Addr     string // ip:port; empty when the node has no known address (noaddr)
	BusPort  int
	Hostname string
	Flags    map[string]bool
	MasterID string // of a replica; empty for a master
	// PongRecv is when the reporting node last heard from the node, in Unix milliseconds; 0
	// for itself.
	PongRecv int64
	Epoch    int64
	Linked   bool // link-state connected
	Slots    []SlotRange
	// Migrating maps a slot to the node id it is being moved to; Importing to the id it comes from.
	Migrating map[int]string
	Importing map[int]string
}

// Myself reports whether the line describes the reporting node itself.
func (n NodeView) Myself() bool { return n.Flags["myself"] }

// Master reports whether the node is a master.
func (n NodeView) Master() bool { return n.Flags["master"] }

// Handshake reports an entry of a node still in its handshake: its id is a temporary one of its
// own, dropped when the handshake ends.
func (n NodeView) Handshake() bool { return n.Flags["handshake"] }

// NoAddr reports an entry whose address Redis no longer knows; such a node is never flagged as
// failed.
func (n NodeView) NoAddr() bool { return n.Flags["noaddr"] }

// Failed reports whether the reporting node considers the node failed (fail) or possibly failed
// (fail?).
func (n NodeView) Failed() bool { return n.Flags["fail"] || n.Flags["fail?"] }

// Usable reports whether the node is a full member: no fail, handshake or noaddr flag.
func (n NodeView) Usable() bool {
	return !n.Failed() && !n.Flags["handshake"] && !n.Flags["noaddr"] && n.Addr != ""
}

// ParseClusterNodes parses the reply of CLUSTER NODES.
func ParseClusterNodes(reply string) ([]NodeView, error) {
	var out []NodeView
	for _, line := range strings.Split(strings.TrimSpace(reply), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		n, err := parseNodeLine(line)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func parseNodeLine(line string) (NodeView, error) {
	f := strings.Fields(line)
	if len(f) < 8 {
		return NodeView{}, fmt.Errorf("CLUSTER NODES line has %d fields, want at least 8: %q", len(f), line)
	}
	n := NodeView{ID: f[0], Flags: map[string]bool{}, Linked: f[7] == "connected"}
	addr, host, _ := strings.Cut(f[1], ",")
	n.Hostname = host
	hostPort, bus, _ := strings.Cut(addr, "@")
	if bus != "" {
		n.BusPort, _ = strconv.Atoi(bus)
	}
	// Redis gives the address as an IP literal; ":0" (noaddr) and anything else leave it empty.
	if ap, err := netip.ParseAddrPort(hostPort); err == nil && ap.Port() != 0 {
		n.Addr = ap.String()
	}
	for _, flag := range strings.Split(f[2], ",") {
		if flag != "" && flag != "noflags" {
			n.Flags[flag] = true
		}
	}
	if f[3] != "-" {
		n.MasterID = f[3]
	}
	n.PongRecv, _ = strconv.ParseInt(f[5], 10, 64)
	n.Epoch, _ = strconv.ParseInt(f[6], 10, 64)
	for _, slot := range f[8:] {
		if strings.HasPrefix(slot, "[") {
			if err := n.parseOpenSlot(strings.Trim(slot, "[]")); err != nil {
				return NodeView{}, err
			}
			continue
		}
		r, err := ParseSlotRange(slot)
		if err != nil {
			return NodeView{}, err
		}
		n.Slots = append(n.Slots, r)
	}
	return n, nil
}

// parseOpenSlot parses "93->-<id>" (migrating) or "93-<-<id>" (importing).
func (n *NodeView) parseOpenSlot(s string) error {
	for _, open := range []struct {
		sep   string
		slots *map[int]string
	}{{"->-", &n.Migrating}, {"-<-", &n.Importing}} {
		slot, id, ok := strings.Cut(s, open.sep)
		if !ok {
			continue
		}
		num, err := strconv.Atoi(slot)
		if err != nil {
			return fmt.Errorf("open slot %q: %w", s, err)
		}
		if *open.slots == nil {
			*open.slots = map[int]string{}
		}
		(*open.slots)[num] = id
		return nil
	}
	return fmt.Errorf("open slot %q is neither migrating nor importing", s)
}

// ParseInfo parses an INFO or CLUSTER INFO reply into its key:value pairs.
func ParseInfo(reply string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(reply, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}
