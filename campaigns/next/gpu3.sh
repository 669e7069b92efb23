# GPU 3: vLLM replays, offline and online at each trace's mean rate (code 2.57, conv 5.53 req/s), faster
# rates and a Poisson rate (issues 7 and 8), then 1B graphs and noisy 8B eager cells.
source /tmp/ep/src/calibrate/campaigns/h100-x4/env.sh; export CUDA_VISIBLE_DEVICES=3; O=$W/out/gpu3; N=calibrate/campaigns/next; D=$(date +%F)
wait_for_vllm
$EP replay $T/AzureLLMInferenceTrace_code.csv --backend vllm --n 120 --modes offline,online --rates 2.57,5,10 --poisson-rates 5 --out $O/replays --gpus 3
$EP replay $T/AzureLLMInferenceTrace_conv.csv --backend vllm --n 120 --modes offline,online --rates 5.53,10,20 --poisson-rates 10 --out $O/replays --gpus 3
$EP calibrate $N/vllm.json --only-config vllm-graphs --only-model Llama-3.2-1B --out $O/$D-vllm-graphs-llama1b --gpus 3
$EP calibrate $N/vllm.json --only-config vllm-eager --only-model Llama-3.1-8B --out $O/$D-vllm-eager-llama8b --gpus 3
touch $O/DONE
