// Keeping a function out of its callers' optimised code, for V8, which has no "do not inline".
//
// TurboFan compiles a hot function together with the functions it calls whose bytecode is at
// most 460 bytes (--max-inlined-bytecode-size). The decoder's string and varint readers and its
// message entry points are called from a dozen decoding functions, so inlined they were compiled
// again into each one, loops and all: 80-120 ms of background compile per process in
// `bench wire` (a tenth of its CPU, on V8's helper threads), and nothing measurable gained on
// the main thread, where a call costs a few ns next to the string it makes or the loop it runs.
// (Found with --max-inlined-bytecode-size=70, which saved as much with the same main-thread time.)
//
// Such a function starts with
//
//     if (OUT_OF_LINE) [, , , , , , , , , , , , , , , ,] = OUT_OF_LINE;
//
// which never runs and only takes it over that size: destructuring an array is about 32 bytes
// of bytecode per element, so these 16 are over 460 on their own. When the function runs it
// costs one test; its optimised code keeps only a deoptimisation exit in place of the block.
// A function that drops under the limit again is no less correct, only inlined again.

/** Never an array: see above. */
export const OUT_OF_LINE: readonly never[] | undefined = undefined;
