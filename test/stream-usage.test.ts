/**
 * Usage in a stream: billing reads it from the upstream's bytes however they are cut, and takes the usage
 * event out for a client that did not ask for it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { UsageEventRemover } from '../plugins/billing/usage-event.ts';
import { UsageReader } from '../plugins/billing/usage.ts';

describe('usage read from a stream', () => {
  const read = (events: string[], cut: number) => {
    const reader = new UsageReader({ kind: 'sse', contentEncoding: undefined });
    const body = Buffer.from(events.map((data) => `data: ${data}\n\n`).join(''));
    for (let at = 0; at < body.length; at += cut) reader.observer.onData(body.subarray(at, at + cut));
    reader.observer.onEnd?.({ complete: true });
    return reader.usage(7);
  };

  test('usage: null on every chunk, then the counts on the last one (OpenAI style), however it is cut', () => {
    const chunk = (content: string) => JSON.stringify({ choices: [{ delta: { content } }], usage: null });
    const events = [
      chunk('Hello'),
      chunk(' "usage" there'),
      '{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}',
      '[DONE]',
    ];
    for (const cut of [1, 7, 1 << 20]) {
      assert.deepEqual(
        read(events, cut),
        { promptTokens: 3, completionTokens: 2, estimated: false },
        `cut ${cut}`,
      );
    }
  });

  test('only the counts and cost of the usage object itself are read: nested ones are not, and counts written otherwise are parsed', () => {
    const usageEvent = (usage: string) => [
      `{"choices":[],"x":{"usage":{"prompt_tokens":99}},"usage":${usage}}`,
    ];
    const cases: [string, unknown][] = [
      [
        '{"prompt_tokens_details":{"prompt_tokens":999},"prompt_tokens":4,"completion_tokens":5,"cost":0.1}',
        { promptTokens: 4, completionTokens: 5, estimated: false, upstreamCostUsd: 0.1 },
      ],
      [
        '{"prompt_tokens":4,"completion_tokens":5,"cost":"0.1","cost_details":{"cost":2}}',
        { promptTokens: 4, completionTokens: 5, estimated: false },
      ],
      [
        '{"prompt_tokens":4,"completion_tokens":5,"cost":-1}',
        { promptTokens: 4, completionTokens: 5, estimated: false },
      ],
      [
        '{ "prompt_tokens" : 4 ,\t "completion_tokens" : 0 }',
        { promptTokens: 4, completionTokens: 0, estimated: false },
      ],
      [
        '{"prompt_tokens":4.0,"completion_tokens":5e0}',
        { promptTokens: 4, completionTokens: 5, estimated: false },
      ],
      [
        '{"prompt_tokens":"4","completion_tokens":5}',
        { promptTokens: 7, completionTokens: 0, estimated: true },
      ],
      ['{"prompt_tokens":4}', { promptTokens: 7, completionTokens: 0, estimated: true }],
      [
        '{"prompt_tokens":0x10,"completion_tokens":5}',
        { promptTokens: 7, completionTokens: 0, estimated: true },
      ],
      [
        '{"prompt_tokens":04,"completion_tokens":5}',
        { promptTokens: 7, completionTokens: 0, estimated: true },
      ],
    ];
    for (const [usage, expected] of cases) {
      assert.deepEqual(read(usageEvent(usage), 3), expected, `stream: ${usage}`);
      const reader = new UsageReader({ kind: 'json', contentEncoding: undefined });
      reader.observer.onData(Buffer.from(`{"id":"x","usage":${usage},"choices":[]}`));
      reader.observer.onEnd?.({ complete: true });
      assert.deepEqual(reader.usage(7), expected, `answer: ${usage}`);
    }
  });

  test('an event whose data spans several lines is read whole', () => {
    const reader = new UsageReader({ kind: 'sse', contentEncoding: undefined });
    const body = 'data: {"choices":[],\ndata: "usage":{"prompt_tokens":3,\ndata: "completion_tokens":2}}\n\n';
    for (const byte of Buffer.from(body)) reader.observer.onData(Buffer.from([byte]));
    reader.observer.onEnd?.({ complete: true });
    assert.deepEqual(reader.usage(7), { promptTokens: 3, completionTokens: 2, estimated: false });
  });

  test('a line longer than the read limit is dropped, not held, and the events after it are read', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const reader = new UsageReader({ kind: 'sse', contentEncoding: undefined });
    const piece = Buffer.alloc(1024 * 1024, 0x78);
    reader.observer.onData(Buffer.from('data: {"x":"'));
    const used = () => {
      gc();
      const memory = process.memoryUsage();
      return memory.heapUsed + memory.external;
    };
    const before = used();
    for (let i = 0; i < 40; i++) reader.observer.onData(piece);
    const grown = used() - before;
    reader.observer.onData(
      Buffer.from('"}\n\ndata: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n'),
    );
    reader.observer.onEnd?.({ complete: true });
    assert.deepEqual(reader.usage(7), { promptTokens: 3, completionTokens: 2, estimated: false });
    assert.ok(grown < 8 * 1024 * 1024, `heap grew ${grown} bytes for a 40 MiB line`);
  });

  test('no usage at all: the text of every chunk is counted for the estimate', () => {
    const events = [
      '{"choices":[{"delta":{"content":"12345678"}}]}',
      '{"choices":[{"delta":{"content":"1234"}}]}',
    ];
    assert.deepEqual(read(events, 5), { promptTokens: 7, completionTokens: 3, estimated: true });
  });

  test('no usage, and the model calls a tool: its name and arguments are counted for the estimate', () => {
    const call = (name: string | undefined, args: string) =>
      JSON.stringify({
        choices: [{ delta: { tool_calls: [{ index: 0, function: { name, arguments: args } }] } }],
      });
    // 'weather' (7) + '{"city":' (8) + '"Paris"}' (8): 23 characters, 6 tokens.
    const events = [call('weather', ''), call(undefined, '{"city":'), call(undefined, '"Paris"}')];
    assert.deepEqual(read(events, 5), { promptTokens: 7, completionTokens: 6, estimated: true });
    const answer = new UsageReader({ kind: 'json', contentEncoding: undefined });
    const message = {
      role: 'assistant',
      content: null,
      tool_calls: [{ function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
    };
    answer.observer.onData(Buffer.from(JSON.stringify({ choices: [{ message }] })));
    answer.observer.onEnd?.({ complete: true });
    assert.deepEqual(answer.usage(7), { promptTokens: 7, completionTokens: 6, estimated: true });
  });

  test('no usage, and the model reasons: its reasoning is counted for the estimate, as either field names it', () => {
    // '12345678' (8) + 'abcd' (4) + 'xyz!' (4): 16 characters, 4 tokens.
    const events = [
      '{"choices":[{"delta":{"content":"","reasoning":"12345678"}}]}',
      '{"choices":[{"delta":{"reasoning_content":"abcd"}}]}',
      '{"choices":[{"delta":{"content":"xyz!"}}]}',
    ];
    assert.deepEqual(read(events, 5), { promptTokens: 7, completionTokens: 4, estimated: true });
    const answer = new UsageReader({ kind: 'json', contentEncoding: undefined });
    const message = { role: 'assistant', content: 'xyz!', reasoning: '12345678abcd' };
    answer.observer.onData(Buffer.from(JSON.stringify({ choices: [{ message }] })));
    answer.observer.onEnd?.({ complete: true });
    assert.deepEqual(answer.usage(7), { promptTokens: 7, completionTokens: 4, estimated: true });
  });

  test('an error with nothing written is a failure, in its words; after words, or usage of a completion, it is not', () => {
    const failureOf = (events: string[]) => {
      const reader = new UsageReader({ kind: 'sse', contentEncoding: undefined });
      reader.observer.onData(Buffer.from(events.map((data) => `data: ${data}\n\n`).join('')));
      reader.observer.onEnd?.({ complete: true });
      return reader.failure();
    };
    const error =
      '{"error":{"code":502,"message":"Provider returned error"},"choices":[{"delta":{"content":""}}]}';
    assert.equal(failureOf([error, '[DONE]']), 'Provider returned error');
    assert.equal(failureOf(['{"error":"overloaded"}']), 'overloaded');
    assert.equal(failureOf(['{"choices":[{"delta":{"content":"Hi"}}]}', error]), undefined);
    assert.equal(
      failureOf([error, '{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}']),
      undefined,
    );
    assert.equal(failureOf(['{"choices":[{"delta":{"content":"Hi"}}]}']), undefined);
  });
});

describe('the usage event, removed for a client that did not ask for it', () => {
  /** The stream through the remover in chunks of `cut` bytes, as the client gets it. */
  const removed = (stream: string, cut: number) => {
    const remover = new UsageEventRemover();
    const body = Buffer.from(stream);
    const out: Buffer[] = [];
    for (let at = 0; at < body.length; at += cut) out.push(remover.onData(body.subarray(at, at + cut)));
    out.push(remover.onEnd() ?? Buffer.alloc(0));
    return Buffer.concat(out).toString();
  };
  const events = (list: string[], newline = '\n') =>
    list.map((data) => `data: ${data}${newline}${newline}`).join('');
  const chunk = (content: string) => JSON.stringify({ choices: [{ delta: { content } }], usage: null });
  const usageEvent = '{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}';

  test('only the usage event goes, however the stream is cut, with either line ending', () => {
    for (const newline of ['\n', '\r\n']) {
      const content = [chunk('Hello'), chunk(' "usage": {} in text'), chunk('!')];
      const stream = events([...content, usageEvent, '[DONE]'], newline);
      const expected = events([...content, '[DONE]'], newline);
      for (let cut = 1; cut <= stream.length; cut++) {
        assert.equal(removed(stream, cut), expected, `cut ${cut}, ${JSON.stringify(newline)}`);
      }
    }
  });

  test('a usage event written with spaces goes too, and text in any script around it stays byte for byte', () => {
    const content = [chunk('你好 "usage" : 1'), chunk('ü'), chunk('\\"usage\\":{}')];
    const spaced = '{ "choices" : [ ], "usage" : { "prompt_tokens" : 3 } }';
    for (const cut of [1, 5, 1 << 20]) {
      assert.equal(removed(events([...content, spaced, '[DONE]']), cut), events([...content, '[DONE]']));
    }
  });

  test('a whole event is never held back: each chunk that ends an event sends it at once', () => {
    const remover = new UsageEventRemover();
    const first = `data: ${chunk('Hello')}\n\n`;
    assert.equal(remover.onData(Buffer.from(first)).toString(), first);
    assert.equal(remover.onData(Buffer.from('data: {"choi')).toString(), '');
    assert.equal(remover.onData(Buffer.from('ces":[]}\n\n')).toString(), 'data: {"choices":[]}\n\n');
  });

  test('a usage event written over several data lines goes too, as a reader of events sees it', () => {
    const split = 'data: {"choices":[],\ndata: "usage":{"prompt_tokens":1}}\n\n';
    assert.equal(
      removed(`data: ${chunk('a')}\n\n${split}data: [DONE]\n\n`, 3),
      `data: ${chunk('a')}\n\ndata: [DONE]\n\n`,
    );
  });

  test('events that are not a lone usage event stay: usage with choices, a usage string, comments, other fields', () => {
    const kept = [
      events(['{"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}']),
      events(['{"choices":[],"type":"usage"}']),
      events(['{"choices":[],"usage":null}']),
      ': OPENROUTER PROCESSING\n\n',
      `event: usage\ndata: ${usageEvent}\n\n`,
      events(['{"choices":[{"delta":{}}],"x":{"choices":[]},"usage":{"prompt_tokens":1}}']),
    ];
    for (const stream of kept) assert.equal(removed(stream, 4), stream);
  });

  test('an unfinished event longer than 64 KiB goes on at once, and a usage event after it still goes', () => {
    const remover = new UsageEventRemover();
    const start = `data: {"choices":[{"delta":{"content":"${'x'.repeat(70_000)}`;
    assert.equal(remover.onData(Buffer.from(start)).toString(), start);
    const rest = `"}}]}\n\n`;
    assert.equal(
      remover.onData(Buffer.from(rest + events([usageEvent, '[DONE]']))).toString(),
      rest + events(['[DONE]']),
    );
  });

  test('a usage event with no blank line after it, at the end of the stream, goes too', () => {
    assert.equal(removed(`data: ${chunk('a')}\n\ndata: ${usageEvent}`, 5), `data: ${chunk('a')}\n\n`);
  });
});

describe('usage read from an answer the upstream compressed though asked not to', () => {
  const usage = { prompt_tokens: 3, completion_tokens: 2 };
  const stream = Buffer.from(
    ['{"choices":[{"delta":{"content":"Hello there"}}]}', JSON.stringify({ choices: [], usage }), '[DONE]']
      .map((data) => `data: ${data}\n\n`)
      .join(''),
  );
  const answer = Buffer.from(JSON.stringify({ choices: [{ message: { content: 'Hello there' } }], usage }));
  const codings: [string, (bytes: Buffer) => Buffer][] = [
    ['gzip', gzipSync],
    ['x-gzip', gzipSync],
    ['deflate', deflateSync],
    ['deflate', deflateRawSync],
    ['br', brotliCompressSync],
    ['GZIP ', gzipSync],
  ];
  const read = (options: { kind: 'sse' | 'json'; coding: string; bytes: Buffer; cut: number }) => {
    const reader = new UsageReader({ kind: options.kind, contentEncoding: options.coding });
    const { bytes, cut } = options;
    for (let at = 0; at < bytes.length; at += cut) reader.observer.onData(bytes.subarray(at, at + cut));
    reader.observer.onEnd?.({ complete: true });
    return reader.usage(7);
  };
  const exact = { promptTokens: 3, completionTokens: 2, estimated: false };

  test('gzip, deflate (zlib or raw) and br, streams and answers, however they are cut, are read exactly', () => {
    for (const [coding, compress] of codings) {
      for (const cut of [1, 5, 1 << 20]) {
        const sse = read({ kind: 'sse', coding, bytes: compress(stream), cut });
        assert.deepEqual(sse, exact, `stream, ${coding} by ${compress.name}, cut ${cut}`);
        const json = read({ kind: 'json', coding, bytes: compress(answer), cut });
        assert.deepEqual(json, exact, `answer, ${coding} by ${compress.name}, cut ${cut}`);
      }
    }
  });

  test('a stream cut short is estimated from the text that arrived', () => {
    const events = Array.from({ length: 200 }, (_, i) => `{"choices":[{"delta":{"content":"word${i} "}}]}`);
    const whole = gzipSync(Buffer.from(events.map((data) => `data: ${data}\n\n`).join('')));
    const { completionTokens, estimated } = read({
      kind: 'sse',
      coding: 'gzip',
      bytes: whole.subarray(0, whole.length >> 1),
      cut: 64,
    });
    assert.equal(estimated, true);
    assert.ok(completionTokens > 50 && completionTokens < 450, `${completionTokens} of 450 tokens' text`);
  });

  test('an answer that inflates past the reading limit, bytes that are no gzip, or an unknown coding are estimated, not read', () => {
    const bomb = gzipSync(Buffer.concat([answer, Buffer.alloc(64 * 1024 * 1024, 0x20)]));
    assert.ok(bomb.length < 128 * 1024);
    const promptOnly = { promptTokens: 7, completionTokens: 0, estimated: true };
    assert.deepEqual(read({ kind: 'json', coding: 'gzip', bytes: bomb, cut: 4096 }), promptOnly);
    assert.deepEqual(read({ kind: 'json', coding: 'gzip', bytes: answer, cut: 4096 }), promptOnly);
    assert.deepEqual(read({ kind: 'json', coding: 'zstd', bytes: answer, cut: 4096 }), promptOnly);
    // `identity` in any case is no coding: the answer is read as it is.
    assert.deepEqual(read({ kind: 'json', coding: ' Identity', bytes: answer, cut: 4096 }), exact);
  });
});
