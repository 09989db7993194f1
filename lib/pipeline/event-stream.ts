/**
 * Events pushed by a producer, read as an async iterable: the producer runs whether or not anyone
 * reads (it holds the segmenter's queue), events wait in order, and its failure is thrown to the
 * reader after the events that came before it.
 */
export function eventStream<E>(produce: (emit: (event: E) => void) => Promise<void>): AsyncIterable<E> {
  const events: E[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let failure: { error: unknown } | undefined;
  void produce((e) => {
    events.push(e);
    wake?.();
  }).then(
    () => {
      finished = true;
      wake?.();
    },
    (e: unknown) => {
      failure = { error: e };
      finished = true;
      wake?.();
    },
  );
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        if (events.length > 0) {
          yield events.shift()!;
          continue;
        }
        if (finished) {
          if (failure) throw failure.error;
          return;
        }
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    },
  };
}
