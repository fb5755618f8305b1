"""The cell gallery: every cell of the case, grouped by call, sortable, and a click shows the
cell highlighted in its field."""

from __future__ import annotations

from PySide6.QtCore import Qt

from lab_app.gui.cell_gallery import PATH_ROLE


def open_gallery(win, gui):
    win.actions_.gallery.trigger()
    assert win.dock_gallery.isVisible()
    gui.qtbot.waitUntil(lambda: not win.gallery.busy and bool(win.gallery.tiles()), timeout=30000)
    return win.gallery


def test_gallery_shows_every_cell_grouped_by_call(make_window, image_folder, gui):
    win = gui.analysed_window(make_window, image_folder)
    gallery = open_gallery(win, gui)
    rows = [r for r in win.model.rows() if r.result.status == "ok"]
    tiles = gallery.tiles()
    # One tile per cell the analysis counted, numbered as the outlines are.
    assert len(tiles) == sum(r.result.cells for r in rows)
    for r in rows:
        assert sorted(c for p, c in tiles if p == r.path) == list(range(1, r.result.cells + 1))
    # Grouped by the image's call, in class order, each group led by its header tile.
    calls = [next(r.shown_class for r in rows if r.path == p) for p, _ in tiles]
    order = ["Benign", "Early", "Pre", "Pro"]
    assert calls == sorted(calls, key=order.index)
    headers = [gallery.model.item(i).text() for i in range(gallery.model.rowCount())
               if not gallery.model.item(i).data(PATH_ROLE)]
    assert [h.split("\n")[0] for h in headers] == ["Benign", "Early Pre-B ALL", "Pre-B ALL",
                                                   "Pro-B ALL"][:len(headers)]
    # Largest first inside each group (the default sort), by image order when asked.
    areas = {}
    from lab_app.core.cells import field_cells, params_for
    from lab_app.core.imaging import load_rgb
    for r in rows:
        for c in field_cells(r.path, load_rgb(r.path).rgb, params_for(r.result)):
            areas[(r.path, c.cell)] = c.area
    first_group = [t for t, call in zip(tiles, calls) if call == calls[0]]
    sizes = [areas[t] for t in first_group]
    assert sizes == sorted(sizes, reverse=True)
    gallery.sort_box.setCurrentIndex(gallery.sort_box.findData("image"))
    by_image = [t for t, call in zip(gallery.tiles(), calls) if call == calls[0]]
    paths = [r.path for r in rows]
    assert by_image == sorted(by_image, key=lambda t: (paths.index(t[0]), t[1]))


def test_click_and_enter_show_the_cell_highlighted_in_its_field(make_window, image_folder, gui):
    win = gui.analysed_window(make_window, image_folder)
    gallery = open_gallery(win, gui)
    last_path, last_cell = gallery.tiles()[-1]
    idx = next(gallery.model.index(i, 0) for i in range(gallery.model.rowCount())
               if gallery.model.item(i).data(PATH_ROLE) == last_path
               and gallery.model.item(i).data(PATH_ROLE + 1) == last_cell)
    rect = gallery.view.visualRect(idx)
    gallery.view.scrollTo(idx)
    rect = gallery.view.visualRect(idx)
    gui.qtbot.mouseClick(gallery.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    gui.qtbot.waitUntil(lambda: win.viewer.view.highlighted, timeout=10000)
    assert win.current_row().path == last_path
    assert win.actions_.show_outlines.isChecked()
    # Keyboard: move to the first tile of the grid and press Enter.
    first_path, first_cell = gallery.tiles()[0]
    gallery.view.setFocus()
    first = next(gallery.model.index(i, 0) for i in range(gallery.model.rowCount())
                 if gallery.model.item(i).data(PATH_ROLE))
    gallery.view.setCurrentIndex(first)
    gui.qtbot.keyClick(gallery.view, Qt.Key.Key_Return)
    gui.qtbot.waitUntil(lambda: win.current_row().path == first_path and win.viewer.view.highlighted,
                        timeout=10000)


def test_gallery_follows_the_technicians_call(make_window, image_folder, gui):
    win = gui.analysed_window(make_window, image_folder)
    gallery = open_gallery(win, gui)
    row = next(r for r in win.model.rows() if r.result.prediction == "Benign")
    win.select_proxy_row(win.proxy.mapFromSource(win.model.index(win.model.find(row.path), 0)).row())
    win.dialogs.override = ("Pro", "Blasts, not hematogones.")
    win.override_current(3)
    assert row.image.final_class == "Pro"
    tiles = gallery.tiles()
    header_rows = [i for i in range(gallery.model.rowCount())
                   if not gallery.model.item(i).data(PATH_ROLE)]
    pro_start = next(i for i in header_rows if gallery.model.item(i).text().startswith("Pro-B"))
    pro_paths = {gallery.model.item(i).data(PATH_ROLE) for i in range(pro_start + 1,
                                                                       gallery.model.rowCount())}
    assert row.path in pro_paths and len(tiles) == sum(r.result.cells for r in win.model.rows()
                                                        if r.result.status == "ok")
