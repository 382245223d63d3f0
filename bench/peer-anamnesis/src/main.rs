//! Times anamnesis's GGUF dequantisation (`dequantize_gguf_blocks::<Bf16Out | F32Out>`, its
//! streaming kernel entry point) for every block type of shared/fixtures/ggml/all_types.gguf,
//! tiled to `--elems` elements (4096 × 11008 by default), on one thread and on all threads (the
//! tensor split into one part per thread; anamnesis itself parallelises across tensors, not
//! within one). Each block is copied into an output buffer that is reused across runs and, as in
//! amn-bench-kernels, refilled with a new byte before each run. Prints a Markdown table of
//! medians in Gelem/s; `--clock cpu` times one-thread runs in the thread's CPU time.
//!
//! usage: peer-anamnesis FIXTURE [--reps N] [--elems N] [--only NAME,...] [--clock wall|cpu]
use anamnesis::{dequantize_gguf_blocks, parse_gguf, Bf16Out, F32Out, GgufType, OutputElement};
use std::time::Instant;

/// Now in seconds: the wall clock, or this thread's CPU time.
fn seconds_now(thread_cpu: bool, epoch: Instant) -> f64 {
    if !thread_cpu {
        return epoch.elapsed().as_secs_f64();
    }
    let mut time = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    time.tv_sec as f64 + time.tv_nsec as f64 * 1e-9
}

/// Median of `reps` runs after a warm-up, `output` refilled (untimed) before each.
fn median_seconds(reps: usize, thread_cpu: bool, output: &mut [u8], mut work: impl FnMut(&mut [u8])) -> f64 {
    let epoch = Instant::now();
    let mut times = Vec::new();
    for rep in 0..=reps {
        output.fill(0xa5u8.wrapping_add(rep as u8));
        let start = seconds_now(thread_cpu, epoch);
        work(output);
        if rep > 0 {
            times.push(seconds_now(thread_cpu, epoch) - start);
        }
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Dequantises `input` (whole blocks of `dtype`) into `output`.
fn dequantize<E: OutputElement>(input: &[u8], dtype: GgufType, output: &mut [u8]) {
    let elems = input.len() / dtype.type_size().expect("block type") * dtype.block_size();
    let mut offset = 0;
    dequantize_gguf_blocks::<E, _>(input, dtype, elems, |block| {
        output[offset..offset + block.len()].copy_from_slice(block);
        offset += block.len();
        Ok(())
    })
    .expect("dequantize");
}

/// Dequantises `input` into `output`: on this thread, or split into one part per thread.
fn run<E: OutputElement>(input: &[u8], dtype: GgufType, threads: usize, output: &mut [u8]) {
    if threads == 1 {
        return dequantize::<E>(input, dtype, output);
    }
    let block_bytes = dtype.type_size().expect("block type");
    let per_thread = (input.len() / block_bytes).div_ceil(threads);
    let out_per_thread = per_thread * dtype.block_size() * E::BYTES;
    std::thread::scope(|scope| {
        for (part, out) in input.chunks(per_thread * block_bytes).zip(output.chunks_mut(out_per_thread)) {
            scope.spawn(move || dequantize::<E>(part, dtype, out));
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let fixture = &args[1];
    let mut reps = 7;
    let mut elems: usize = 4096 * 11008;
    let mut only: Vec<String> = Vec::new();
    let mut thread_cpu = false;
    for pair in args[2..].chunks(2) {
        match pair[0].as_str() {
            "--reps" => reps = pair[1].parse().expect("--reps N"),
            "--elems" => elems = pair[1].parse().expect("--elems N"),
            "--only" => only = pair[1].split(',').map(str::to_owned).collect(),
            "--clock" => thread_cpu = pair[1] == "cpu",
            other => panic!("unknown option {other}"),
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = parse_gguf(fixture).expect("parse fixture");
    let mut output = vec![1u8; elems * 4];
    let clock = if thread_cpu { "thread's CPU time" } else { "wall clock" };
    println!("anamnesis 0.7.10, shape {elems} elements, {threads} threads, median of {reps}, 1 thread timed by the {clock}\n");
    println!("| kernel | out | 1 thread Gelem/s | {threads} threads Gelem/s |");
    println!("| --- | --- | ---: | ---: |");
    for tensor in model.tensors() {
        let dtype = tensor.dtype;
        let name = format!("{dtype:?}");
        if dtype.block_size() == 1 || (!only.is_empty() && !only.contains(&name)) {
            continue;
        }
        let block_bytes = dtype.type_size().expect("block type");
        let size = elems / dtype.block_size() * block_bytes;
        let input: Vec<u8> = tensor.data.iter().copied().cycle().take(size).collect();
        let count = (size / block_bytes * dtype.block_size()) as f64;
        for out in ["BF16", "F32"] {
            let mut timed = |threads: usize, thread_cpu: bool| {
                let out_bytes = count as usize * if out == "BF16" { 2 } else { 4 };
                median_seconds(reps, thread_cpu, &mut output[..out_bytes], |output| match out {
                    "BF16" => run::<Bf16Out>(&input, dtype, threads, output),
                    _ => run::<F32Out>(&input, dtype, threads, output),
                })
            };
            let single = count / timed(1, thread_cpu) / 1e9;
            let all = count / timed(threads, false) / 1e9;
            println!("| {name} | {out} | {single:.2} | {all:.2} |");
        }
    }
}
