package engine

// LevelsQueued is how many messages wait in the stateful triggers' inbox.
func LevelsQueued(e *Engine) int { return len(e.levels.inbox) }
