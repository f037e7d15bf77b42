// Package proctree owns the process trees perfgate starts — an engine
// (`vllm serve` and its EngineCore workers), an install command and what it
// runs — so that none outlives perfgate:
//
//   - each is started in its own process group (Prepare) and signalled as a
//     group, and also process by process for every descendant seen, so a
//     child that left the group (setsid) is stopped too;
//   - on Linux a watcher notes the tree's descendants twice a second (by pid
//     and start time, so a reused pid is never signalled), and a record in
//     the user's cache (perfgate/engines/<pid>.json) names them until the
//     tree is released;
//   - a perfgate killed outright (kill -9, the OOM killer) runs no handler:
//     the next perfgate's SweepOrphans finds its records and stops what is
//     left — also when the tree's first process has exited and its children
//     live on;
//   - KillAll stops every tree at once, for the paths that cannot wait (a
//     second Ctrl-C, a panic).
package proctree
