// Package security rates and gates the actions of agents: it says how
// risky an action is, whether it must wait for the user to confirm it, and
// whether hooks let it run; it hides secrets in text. It never runs an
// action itself and never talks to a sandbox.
//
// # Rating actions
//
// An [Analyzer] rates an ActionEvent LOW, MEDIUM, HIGH or UNKNOWN, with a
// reason, as a [Verdict]. The analyzers:
//
//   - [LLMAnalyzer]: the model's own rating, the security_risk argument of
//     its tool call (the event's SecurityRisk); UNKNOWN without one.
//   - [RuleAnalyzer]: rules in a text file (below); the built-in rules
//     ([DefaultRules]) or a file the user names ([LoadRules]).
//   - [HookAnalyzer]: an external program or HTTP endpoint that gets the
//     ActionEvent as JSON and answers {"risk": "HIGH", "reason": "..."}.
//     A hook that fails, hangs past its timeout (10 s by default) or
//     answers nonsense rates UNKNOWN, never LOW.
//   - [Ensemble]: several of these; the highest rating wins, UNKNOWN
//     counting below LOW.
//
// [NewAnalyzer] builds one from a conversation's security_analyzer setting;
// [Options].Restrict limits a setting from an untrusted client to the
// built-in analyzers, since a hook's command would run on the server's
// host. [NeedsConfirmation] applies a confirmation [Policy] to a verdict.
//
// # Rules files
//
// A rules file is plain text, one statement per line. Blank lines and
// lines starting with # are ignored. A rule starts with "rule NAME" and
// goes on with indented lines (the indentation is for people):
//
//	# Deleting the root, home or a system directory.
//	rule rm-vital
//	  risk HIGH
//	  reason deletes the root, the home directory or a system directory
//	  tool terminal
//	  program ~ ^(rm|rmdir|shred)$
//	  args ~ ^(/|~|/etc|/usr)/*$
//
// risk (LOW, MEDIUM or HIGH) and reason (the rest of the line) are
// required; tool (one or more tool names) limits the rule to those tools.
// Every other line is a condition on a field of the action:
//
//	FIELD ~ REGEXP                 some value of FIELD matches REGEXP
//	FIELD ~ REGEXP except REGEXP2  some value matches REGEXP and not REGEXP2
//	FIELD !~ REGEXP                no value matches REGEXP
//	FIELD !~ REGEXP except REGEXP2 no value matches REGEXP but not REGEXP2
//
// REGEXP is Go (RE2) syntax, unanchored: use ^ and $ to match whole
// values, (?i) to ignore case. It runs to the end of the line, or to
// " except ". A rule matches when its tool is the action's tool and every
// condition holds; to say "this or that", write two rules or use | in a
// regexp.
//
// The fields are the action's JSON fields by name (for file_editor:
// command, path, file_text, old_str, new_str...; browser and
// browser_navigate: url; browser_type: index, text; any
// field of an MCP tool's action), a list being one value per element, and
// these that GoHands derives:
//
//   - terminal: command is the whole command line, as written. The
//     command line is also read as a shell would split it into simple
//     commands (without running or expanding anything), including the
//     commands inside $(...), sh -c '...', eval, or behind sudo, env,
//     xargs, ssh, find -exec and the like: "sudo sh -c 'rm -rf /'" is
//     seen as "sudo sh -c ...", "sh -c ..." and "rm -rf /". Per simple
//     command: program (the base name: "rm" for /bin/rm), args (each
//     argument, quotes removed), line (program and args joined by
//     spaces), assign (NAME=value words before the program), redirect
//     (targets of >, >>, &>) and input (files of <). Conditions on these
//     must all hold in the same simple command.
//   - apply_patch: path, each file the patch adds, updates, deletes or
//     moves to; patch is the patch text.
//   - secret: the names of the action's fields that hold one of the
//     conversation's secret values, as written or URL-encoded
//     (Options.Secrets): "secret ~ ^url$" is a URL with a secret in it.
//     Only for the tools that list it among their fields.
//   - Absolute paths in path, args, redirect and input are cleaned
//     ("/workspace/../etc/passwd" is "/etc/passwd", "//boot/" is "/boot"),
//     so that a rule about a path also catches it written the long way
//     round. line and command keep the text as written.
//
// A condition on a field the rule's tools do not have is an error (most
// likely a typo), unless the rule names a tool GoHands does not know.
// Which tools the rules cover, their fields and which of them are paths
// or a command line, the tools say themselves (each tool's file in the
// tools package gives its ToolFields; the server passes them in
// Options.Tools): this package names no tool.
//
// Other statements:
//
//	define NAME REGEXP   {NAME} in later regexps of this file stands for REGEXP
//	include default      the built-in rules, here
//	disable NAME         drop the rule NAME defined (or included) above
//
// {workspace} stands for the conversation's workspace directory
// (/workspace by default). A rule defined after "include default" with
// the name of a built-in rule replaces it. Mistakes are reported with
// their line numbers, all of them (up to 20) at once.
//
// The analyzer rates an action with the highest-rated matching rule (the
// first of those, if several); an action no rule matches is LOW when the
// rules know its tool, UNKNOWN for a tool they do not know.
//
// rules/README.md, next to the built-in rules in rules/default.rules,
// says the same with more examples.
//
// # Hooks
//
// [Hook]s are programs run before an action ([RunPreAction]), which may
// block it, and on its result before the model sees it
// ([RunPostObservation]), which may add a note or hide text. A pre-action
// hook that fails blocks the action unless its on_error is "allow". Each
// run yields a [HookRecord] for the caller to record.
//
// A repository's own hooks file (.openhands/hooks.json, the SDK's format)
// is read by [ParseHookConfig]; its hooks run in the conversation's
// sandbox, which this package never calls: the caller runs them and
// [JudgeRepoHook] reads what they answered.
//
// # Secrets
//
// A [Masker] replaces secret values in text with <secret-hidden>, also
// where they appear escaped inside JSON ([Masker.MaskJSON] keeps a JSON
// document valid). It reads a text in one pass whatever the number of
// secrets (an Aho-Corasick automaton) and is built in time linear in
// their length; [Union] joins Maskers. [MaskHandler] applies one to
// everything logged through a slog.Handler, and [ScopedMaskHandler] adds
// the Masker of the conversation a record names.
package security
