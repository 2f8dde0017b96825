/** An inclusive byte interval `[start, end]` of an object. */
export interface ByteRange {
  /** First byte offset. */
  readonly start: number;
  /** Last byte offset, inclusive. */
  readonly end: number;
}
