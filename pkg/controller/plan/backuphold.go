package plan

// WaitForBackup holds a slot migration back while a backup streams the shards: a slot moved
// between two shards' snapshots would be in both of them, or in neither.
type WaitForBackup struct{ Because }

// holdMigrations replaces the migrations in actions by one WaitForBackup naming backup.
func holdMigrations(actions []Action, backup string) []Action {
	var out []Action
	held := false
	for _, a := range actions {
		if _, ok := a.(MigrateSlots); ok {
			held = true
			continue
		}
		out = append(out, a)
	}
	if held {
		out = append(out, WaitForBackup{Because("moving slots waits for backup " + backup + ", which is streaming the shards")})
	}
	return out
}
