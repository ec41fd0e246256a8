package cluster

import (
	"embed"

	"github.com/redis/go-redis/v9"
)

//go:embed scripts/*.lua
var scriptFiles embed.FS

// scripts are the atomic steps of the protocol (see scripts/*.lua), each
// with the shared helpers in front. EVALSHA sends only their hash; go-redis
// loads a script again when Redis has forgotten it (after a restart).
type scripts struct {
	tick, beat, join, reap, restore *redis.Script
}

func loadScripts() scripts {
	common := mustRead("common.lua")
	load := func(name string) *redis.Script { return redis.NewScript(common + "\n" + mustRead(name)) }
	return scripts{tick: load("tick.lua"), beat: load("beat.lua"), join: load("join.lua"), reap: load("reap.lua"), restore: load("restore.lua")}
}

// mustRead reads an embedded script; they are part of the binary, so a
// missing one is a build mistake.
func mustRead(name string) string {
	b, err := scriptFiles.ReadFile("scripts/" + name)
	if err != nil {
		panic(err)
	}
	return string(b)
}
