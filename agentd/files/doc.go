// Package files is the runtime-agent's file system service: reading with
// line ranges, writing, listing, stat, glob and grep, tar upload and
// download of trees, and the OpenHands file_editor tool (view, create,
// str_replace, insert, undo_edit) with the same behaviour and output texts
// as the OpenHands file editor, so a model trained on one reads the other.
//
// The package speaks no HTTP. Every failure is an *Error whose Kind is one
// of the sentinels below; the HTTP layer picks a status with errors.Is:
//
//	ErrInvalid    400  relative path, NUL in a path, bad range or command, escape
//	ErrNotFound   404  no such file or directory
//	ErrExists     409  create over an existing file
//	ErrConflict   409  a directory where a file is needed, and the reverse
//	ErrBinary     415  a binary file where text is needed
//	ErrTooLarge   413  over a read, write or upload limit
//	ErrPermission 403  the kernel said no
//
// Paths are absolute. By default they may point anywhere in the sandbox's
// file system (the agent has a shell there anyway); Config.Root confines them
// to one tree, which guards against mistakes, not against a process in the
// sandbox racing to swap a directory for a symlink. Tar uploads are always
// confined to their destination, Root or not.
//
// The runtime-agent runs as root while commands may run as another user;
// Config.Owner makes every file and directory this package creates belong to
// that user.
package files
