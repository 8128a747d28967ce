//! Every built-in lesson's simulate questions: the answer the lesson gives is
//! the one the simulator computes, and the lesson passes every check of the
//! core (form, layers, traces, citations).

use pathproof_core::lessons;

#[test]
fn every_simulate_answer_is_what_the_simulator_computes() {
    let all = lessons::all().expect("the built-in lessons parse");
    let mut problems = Vec::new();
    let mut asked = 0;
    for l in &all {
        let text = lessons::FILES
            .iter()
            .find(|(f, _)| *f == l.file)
            .map(|(_, t)| *t)
            .expect("embedded");
        problems.extend(
            lessons::validate(l, text)
                .into_iter()
                .map(|e| e.to_string()),
        );
        problems.extend(
            pathproof_sim::lessons::validate(l)
                .into_iter()
                .map(|e| e.to_string()),
        );
        asked += l.layers.iter().map(|x| x.simulate.len()).sum::<usize>();
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        asked >= 32,
        "four lessons, four layers, two questions each: {asked}"
    );
}

#[test]
fn the_four_simulation_lessons_ask_in_every_layer() {
    for id in ["handshake", "syn-cookies", "rate-limits", "ddos-layers"] {
        let l = lessons::get(id).unwrap_or_else(|| panic!("lesson {id}"));
        for layer in &l.layers {
            assert!(
                !layer.simulate.is_empty() && !layer.predict.is_empty(),
                "{id} layer {} needs a trace question and a simulate question",
                layer.level
            );
        }
        let variants: Vec<&str> = l
            .layers
            .iter()
            .flat_map(|x| x.simulate.iter())
            .filter_map(|q| q.variant.as_deref())
            .collect();
        assert!(variants.contains(&"harden"), "{id}: a harden question");
    }
}
