// Package deploy tests how GoHands is shipped: the Dockerfile at the root of
// the repository. It has no code of its own; its test builds the image
// through the Docker engine's API, runs GoHands in it with the engine's
// socket mounted, and checks that it answers.
package deploy
