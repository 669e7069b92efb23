# GPU 2: vLLM Llama-3.1-8B, one engine per process: the notes' reference cell with prefix caching on,
# CUDA graphs (reference cell with caching off, missing cells), fp8, prefill with a 1024-token step budget.
source /tmp/ep/src/calibrate/campaigns/h100-x4/env.sh; export CUDA_VISIBLE_DEVICES=2; O=$W/out/gpu2; N=calibrate/campaigns/next; D=$(date +%F)
wait_for_vllm
for c in vllm-graphs vllm-graphs-prefix vllm-graphs-fp8 vllm-graphs-chunk1k; do
  $EP calibrate $N/vllm.json --only-config $c --only-model Llama-3.1-8B --out $O/$D-$c-llama8b --gpus 2
done
touch $O/DONE
