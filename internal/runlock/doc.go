// Package runlock keeps two processes from writing one run folder.
//
// Two searches started on the same --out both append to journal.jsonl,
// and their lines interleave into a journal nothing can read again. Every
// command that writes a folder (search, experiment, train, and a worker
// for each trial folder it takes) therefore takes an advisory lock on a
// file in that folder first, and a second process is refused with one
// line naming the folder and the process that holds it:
//
//	runs/dup is in use by process 4121 (autodropout search --config c.json --out runs/dup, since 10:42:07): wait for it to end, or use another folder
//
// The lock is flock(2) on Name inside the folder. The kernel drops it when
// the holder's descriptor closes, which includes every way a process can
// die, so a search killed with SIGKILL never leaves a stale lock behind:
// the next run takes it at once. The file itself stays (deleting a lock
// file races with a process that has just opened it); it holds the
// holder's process id, start time and command line for the message, and
// means nothing while no process has it locked.
//
// Locks are per open file, not per process: a second Acquire of the same
// folder in the same process is refused too, so two search.Search.Run
// calls of a library program on one folder fail the same way as two
// commands. Nested folders are separate locks: an experiment locks its
// folder, each of its searches its own subfolder, and each training its
// own; none of them is refused by its parent.
//
// flock is advisory: it keeps out only programs that ask for it (every
// autodropout command and library entry point does). On NFS, Linux
// implements flock with the server's byte-range locks, so it holds
// between machines too; on file systems without locks Acquire fails with
// the system's error rather than running unprotected.
package runlock
