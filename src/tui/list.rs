//! The one scrolling list: how a selection moves, and which rows a pane of a given height
//! shows so the selection stays in view. Queue, history, diagnostics, parameters and pickers
//! all scroll through it.

use super::action::Motion;

/// Rows a page key moves.
const PAGE: usize = 10;

/// The selection after `motion` in a list of `len` rows (other motions leave it).
pub fn step(selected: usize, len: usize, motion: Motion) -> usize {
    let last = len.saturating_sub(1);
    match motion {
        Motion::Up => selected.saturating_sub(1),
        Motion::Down => (selected + 1).min(last),
        Motion::PageUp => selected.saturating_sub(PAGE),
        Motion::PageDown => (selected + PAGE).min(last),
        Motion::DocStart => 0,
        Motion::DocEnd => last,
        _ => selected,
    }
}

/// The rows of `items` that fit in `rows` lines with `selected` in view (the bottom line
/// while it is past the first screen), with their indices.
pub fn visible<T>(items: &[T], selected: usize, rows: u16) -> impl Iterator<Item = (usize, &T)> {
    let rows = usize::from(rows.max(1));
    let first = selected.saturating_sub(rows - 1);
    items.iter().enumerate().skip(first).take(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_stay_inside_the_list() {
        assert_eq!(step(0, 3, Motion::Up), 0);
        assert_eq!(step(2, 3, Motion::Down), 2);
        assert_eq!(step(1, 30, Motion::PageDown), 11);
        assert_eq!(step(25, 30, Motion::PageDown), 29);
        assert_eq!(step(5, 30, Motion::DocEnd), 29);
        assert_eq!(step(0, 0, Motion::Down), 0);
        assert_eq!(step(4, 9, Motion::Left), 4);
    }

    #[test]
    fn the_selection_stays_in_view() {
        let items: Vec<u32> = (0..10).collect();
        let shown: Vec<usize> = visible(&items, 1, 4).map(|(i, _)| i).collect();
        assert_eq!(shown, [0, 1, 2, 3]);
        let shown: Vec<usize> = visible(&items, 7, 4).map(|(i, _)| i).collect();
        assert_eq!(shown, [4, 5, 6, 7]);
    }
}
