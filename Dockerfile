FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home retarget && mkdir -p /app/var && chown retarget /app/var
USER retarget
EXPOSE 8000
CMD ["gunicorn", "-c", "python:retarget.gunicorn_conf", "retarget.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
