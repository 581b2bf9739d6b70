"""The quiz end to end in headless Chromium: a participant takes the practice and 10
questions, half by click and half by the keys 1-4, pauses and reloads on the way, and the
database holds exactly what was chosen."""

from __future__ import annotations

import re
import sqlite3

from .conftest import Server


def test_a_participant_takes_the_quiz_by_click_and_by_key_in_a_real_browser(solver_data, tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    server = Server([solver_data[t] for t in ("t2i", "i2p", "p2i")], tmp_path / "quiz.sqlite", "--questions", "10",
                    "--practice", "2", "--seed", "9").start()
    wait = WebDriverWait(browser, 30)
    try:
        browser.get(server.url + "/")
        browser.delete_all_cookies()
        browser.get(server.url + "/")
        browser.find_element(By.ID, "start").click()
        chosen: dict[int, int] = {}
        for step in range(12):
            wait.until(EC.presence_of_element_located((By.ID, "choices")))
            position = int(browser.find_element(By.NAME, "position").get_attribute("value"))
            assert position == step
            images = browser.execute_script("return [...document.images].map(i => i.complete && i.naturalWidth)")
            assert len(images) in (4, 7) and all(w == 64 for w in images)  # every drawing loaded
            if step == 4:  # a pause, then a reload: the same question comes back
                nonce = browser.find_element(By.NAME, "nonce").get_attribute("value")
                browser.find_element(By.ID, "pause").click()
                wait.until(EC.element_to_be_clickable((By.ID, "resume"))).click()
                browser.refresh()
                wait.until(EC.presence_of_element_located((By.ID, "choices")))
                assert browser.find_element(By.NAME, "nonce").get_attribute("value") == nonce
            buttons = browser.find_elements(By.CSS_SELECTOR, "#choices button")
            choice = (3 * step + 1) % len(buttons)
            chosen[position] = choice
            if step % 2:
                browser.find_element(By.TAG_NAME, "body").send_keys(str(choice + 1))
            else:
                buttons[choice].click()
            if step < 2:  # practice: feedback, then on
                assert re.search(r"Right!|Not quite\.", wait.until(EC.presence_of_element_located((By.ID, "feedback"))).text)
                browser.find_element(By.ID, "continue").click()
            else:
                wait.until(EC.staleness_of(buttons[0]))
        wait.until(EC.presence_of_element_located((By.ID, "done")))
        with sqlite3.connect(server.db) as db:
            rows = db.execute("SELECT position, choice, practice, client_ms FROM answers ORDER BY position").fetchall()
        assert {r[0]: r[1] for r in rows} == chosen and len(rows) == 12
        assert [r[2] for r in rows] == [1, 1] + [0] * 10 and all(r[3] is not None and r[3] > 0 for r in rows)
    finally:
        server.kill()
