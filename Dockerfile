# CPU image serving an exported model: docker build -t hydralit-serve . then
#   docker run -p 8000:8000 -v $PWD/outputs/<name>/<time>/export:/model hydralit-serve
# Linted by hadolint (tests/serving/test_dockerfile.py); never built: the project's machines
# run no Docker engine. GPU variant (not built or run either): start FROM an nvidia/cuda
# cudnn runtime image with Python 3.11, and after the project replace onnxruntime by the same
# version of onnxruntime-gpu; ONNX Runtime then runs the model on CUDA when it can
# (src/serving/artefact.py asks for its CUDA provider first). Run it with `docker run --gpus all`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 OMP_NUM_THREADS=1
WORKDIR /app

# torch and torchvision CPU builds (one index: PyPI's torchvision needs its CUDA torch), then
# the project with the serving extra
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.14.1 torchvision==0.29.1
COPY pyproject.toml README.md run.py ./
COPY src ./src
COPY conf ./conf
COPY hydra_plugins ./hydra_plugins
# a path (./), so pip installs this source; its dependencies are pinned in the serve extra
RUN pip install './[serve]'

RUN useradd --create-home --uid 10001 app && mkdir /model && chown app /model
USER 10001

EXPOSE 8000
# 0.0.0.0 inside the container: the port is published by `docker run -p`
CMD ["python", "run.py", "mode=serve", "serve.artefact=/model", "serve.host=0.0.0.0", \
     "serve.port=8000", "paths.log_dir=/tmp/outputs", "print_config=false"]
