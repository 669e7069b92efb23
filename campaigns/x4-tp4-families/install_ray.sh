# Install Ray from the parts in /tmp/ray-parts into /tmp/ray-site: Ray itself, and of its needs only those the
# machine's python3 (with vLLM's site first) lacks, so no package the engines use changes version.
set -u
[ -f /tmp/ray-site/.done ] && exit 0
mkdir -p /tmp/ray-unpack && cat /tmp/ray-parts/part-* | tar -C /tmp/ray-unpack -xf - || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/ray-site /tmp/ray-unpack/wheels/ray-*.whl || exit 1
for pair in click:click filelock:filelock jsonschema:jsonschema jsonschema_specifications:jsonschema_specifications \
    referencing:referencing rpds:rpds_py attrs:attrs msgpack:msgpack packaging:packaging google.protobuf:protobuf \
    yaml:pyyaml requests:requests idna:idna urllib3:urllib3 certifi:certifi charset_normalizer:charset_normalizer \
    typing_extensions:typing_extensions; do
  mod=${pair%%:*}; whl=${pair##*:}
  if ! PYTHONPATH=/tmp/vllm-site python3 -c "import $mod" 2>/dev/null; then
    echo "ray needs $whl: installing it"
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/ray-site /tmp/ray-unpack/wheels/${whl}-*.whl
  fi
done
PYTHONPATH=/tmp/vllm-site:/tmp/ray-site python3 -c "import ray; print('ray', ray.__version__)" && touch /tmp/ray-site/.done
