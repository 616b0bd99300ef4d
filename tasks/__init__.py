"""The worker's tasks (Celery): the queue's front end onto the domain, as api/ is the HTTP
one. The domain asks for them by name (core/queue.py); `cpq worker` runs them and
`cpq scheduler` sends the periodic ones."""
