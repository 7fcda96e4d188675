from celery import shared_task

from expirations import services, wakeups


@shared_task(name="expirations.fire_due", ignore_result=True)
def fire_due() -> int:
    """Fire every passed deadline (beat, every poll interval; and wake-ups in between)."""
    fired = services.expirations_fire_due()
    wakeups.wake_for_next_deadline()
    return fired
