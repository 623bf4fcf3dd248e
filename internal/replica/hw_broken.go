//go:build chaosbroken

package replica

// followersHoldHW is false in the deliberately broken build of the chaos
// harness's validation (go build -tags chaosbroken): the leader moves the
// high watermark to its own log end without waiting for its followers, so
// acks=all acknowledges writes no follower has, and a new leader loses
// them. Never ship this build.
const followersHoldHW = false
