package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// topCommands is how many commands the report lists, the most called first.
const topCommands = 10

// redisOptions parses a redis:// (or rediss://, unix://) URL and refuses
// a Redis that is not on this machine, as -url refuses a server.
func redisOptions(flagName, raw string) (*redis.Options, error) {
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	if opt.Network == "unix" {
		return opt, nil
	}
	host, _, err := net.SplitHostPort(opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", flagName, raw, err)
	}
	if !isLoopbackHost(host) {
		return nil, fmt.Errorf("%s: host %q is not loopback (127.0.0.0/8, ::1 or localhost); this tool only loads this machine", flagName, host)
	}
	return opt, nil
}

// newRedisClient connects to the Redis at raw, a URL redisOptions accepts.
// It speaks RESP2 so that a reply's size on the wire is known (see
// redisStats.sample).
func newRedisClient(flagName, raw string) (*redis.Client, error) {
	opt, err := redisOptions(flagName, raw)
	if err != nil {
		return nil, err
	}
	opt.Protocol = 2
	return redis.NewClient(opt), nil
}

// redisSample is what INFO says about a Redis at one moment: counters
// since it started, over every client.
type redisSample struct {
	Commands int64                  // total_commands_processed
	InBytes  int64                  // total_net_input_bytes
	OutBytes int64                  // total_net_output_bytes
	Calls    map[string]commandStat // commandstats, by command name
}

type commandStat struct {
	Calls int64
	USec  int64
}

// parseInfo reads the stats and commandstats sections of an INFO reply.
func parseInfo(text string) (redisSample, error) {
	s := redisSample{Commands: -1, InBytes: -1, OutBytes: -1, Calls: map[string]commandStat{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		var err error
		switch {
		case name == "total_commands_processed":
			s.Commands, err = strconv.ParseInt(value, 10, 64)
		case name == "total_net_input_bytes":
			s.InBytes, err = strconv.ParseInt(value, 10, 64)
		case name == "total_net_output_bytes":
			s.OutBytes, err = strconv.ParseInt(value, 10, 64)
		case strings.HasPrefix(name, "cmdstat_"):
			var c commandStat
			c, err = parseCommandStat(value)
			s.Calls[strings.TrimPrefix(name, "cmdstat_")] = c
		}
		if err != nil {
			return s, fmt.Errorf("INFO %s: %w", name, err)
		}
	}
	if s.Commands < 0 || s.InBytes < 0 || s.OutBytes < 0 {
		return s, fmt.Errorf("INFO lacks total_commands_processed, total_net_input_bytes or total_net_output_bytes")
	}
	return s, nil
}

// parseCommandStat reads "calls=2,usec=15,usec_per_call=7.50,...".
func parseCommandStat(value string) (commandStat, error) {
	var c commandStat
	for field := range strings.SplitSeq(value, ",") {
		k, v, _ := strings.Cut(field, "=")
		var err error
		switch k {
		case "calls":
			c.Calls, err = strconv.ParseInt(v, 10, 64)
		case "usec":
			c.USec, err = strconv.ParseInt(v, 10, 64)
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

// redisStats samples one Redis's counters.
type redisStats struct{ client *redis.Client }

// sample returns the counters now and what asking cost: the INFO command
// is itself a command with a request and a reply, which the next sample
// counts.
func (r redisStats) sample(ctx context.Context) (redisSample, ownTraffic, error) {
	text, err := r.client.Info(ctx, "all").Result()
	if err != nil {
		return redisSample{}, ownTraffic{}, fmt.Errorf("redis INFO: %w", err)
	}
	s, err := parseInfo(text)
	own := ownTraffic{
		Commands: map[string]int64{"info": 1},
		InBytes:  respSize("info", "all"),
		OutBytes: int64(len("$"+strconv.Itoa(len(text))+"\r\n")+len(text)) + 2, // a RESP2 bulk string
	}
	return s, own, err
}

// respSize is the size of a command as a client sends it: a RESP array
// of bulk strings.
func respSize(args ...any) int64 {
	n := len("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		s := fmt.Sprint(a)
		n += len("$"+strconv.Itoa(len(s))+"\r\n") + len(s) + 2
	}
	return int64(n)
}

// ownTraffic is what this tool sent a Redis, to leave out of its figures.
type ownTraffic struct {
	Commands map[string]int64 // by command name, as commandstats names them
	InBytes  int64            // what Redis read
	OutBytes int64            // what Redis wrote
}

func (o ownTraffic) plus(p ownTraffic) ownTraffic {
	sum := ownTraffic{Commands: map[string]int64{}, InBytes: o.InBytes + p.InBytes, OutBytes: o.OutBytes + p.OutBytes}
	for k, v := range o.Commands {
		sum.Commands[k] += v
	}
	for k, v := range p.Commands {
		sum.Commands[k] += v
	}
	return sum
}

func (o ownTraffic) minus(p ownTraffic) ownTraffic {
	neg := ownTraffic{Commands: map[string]int64{}, InBytes: -p.InBytes, OutBytes: -p.OutBytes}
	for k, v := range p.Commands {
		neg.Commands[k] = -v
	}
	return o.plus(neg)
}

func (o ownTraffic) commands() int64 {
	var n int64
	for _, v := range o.Commands {
		n += v
	}
	return n
}

// redisFigures are a Redis's rates over the idle window, without the
// tool's own commands (listed apart).
type redisFigures struct {
	Instances   int           `json:"instances"`    // distinct host:port in -url, the divisor of per_instance
	Total       redisRates    `json:"total"`        // every client but this tool
	PerInstance redisRates    `json:"per_instance"` // total / instances
	Tool        redisRates    `json:"tool"`         // this tool's own INFO and alive-key renewals, left out of the rest
	Top         []commandRate `json:"top_commands"` // from commandstats, the most called first
}

type redisRates struct {
	CommandsPerS float64 `json:"commands_per_s"`
	InBytesPerS  float64 `json:"in_bytes_per_s"`
	OutBytesPerS float64 `json:"out_bytes_per_s"`
}

type commandRate struct {
	Name        string  `json:"name"`
	CallsPerS   float64 `json:"calls_per_s"`
	USecPerCall float64 `json:"usec_per_call"`
}

// redisWindow turns two samples taken window apart into rates, leaving
// out own, and dividing by instances for the per-instance figures.
func redisWindow(start, end redisSample, own ownTraffic, window time.Duration, instances int) (*redisFigures, error) {
	if end.Commands < start.Commands || end.InBytes < start.InBytes || end.OutBytes < start.OutBytes {
		return nil, fmt.Errorf("redis counters went back during the idle window: did it restart?")
	}
	secs := window.Seconds()
	rate := func(n int64) float64 { return float64(max(n, 0)) / secs }
	f := &redisFigures{
		Instances: instances,
		Total: redisRates{
			CommandsPerS: rate(end.Commands - start.Commands - own.commands()),
			InBytesPerS:  rate(end.InBytes - start.InBytes - own.InBytes),
			OutBytesPerS: rate(end.OutBytes - start.OutBytes - own.OutBytes),
		},
		Tool: redisRates{CommandsPerS: rate(own.commands()), InBytesPerS: rate(own.InBytes), OutBytesPerS: rate(own.OutBytes)},
		Top:  []commandRate{},
	}
	f.PerInstance = redisRates{
		CommandsPerS: f.Total.CommandsPerS / float64(instances),
		InBytesPerS:  f.Total.InBytesPerS / float64(instances),
		OutBytesPerS: f.Total.OutBytesPerS / float64(instances),
	}
	for name, e := range end.Calls {
		s := start.Calls[name]
		calls := e.Calls - s.Calls - own.Commands[name]
		if calls <= 0 {
			continue
		}
		// The tool's own calls are in usec too, but cost little; the
		// average is over every call in the window.
		perCall := float64(e.USec-s.USec) / float64(e.Calls-s.Calls)
		f.Top = append(f.Top, commandRate{Name: name, CallsPerS: rate(calls), USecPerCall: perCall})
	}
	slices.SortFunc(f.Top, func(a, b commandRate) int {
		return cmp.Or(cmp.Compare(b.CallsPerS, a.CallsPerS), strings.Compare(a.Name, b.Name))
	})
	f.Top = f.Top[:min(len(f.Top), topCommands)]
	return f, nil
}

// serverCount is how many servers -url names: distinct host:port pairs.
func serverCount(urls string) int {
	hosts := map[string]bool{}
	for _, raw := range strings.Split(urls, ",") {
		if u, err := url.Parse(raw); err == nil {
			hosts[u.Host] = true
		}
	}
	return max(len(hosts), 1)
}
