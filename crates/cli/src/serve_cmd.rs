//! `pathproof serve`: loads the scenario and hands it to the web server in
//! `pathproof_web`, which binds 127.0.0.1 only.

use std::io::Write;

use crate::{diagnostics, scenario_arg, InputError};

pub fn run(scenario: Option<&str>, port: u16, lessons: Option<&str>) -> Result<(), InputError> {
    let (file, text) = scenario_arg::load_text(scenario)?;
    let lessons = crate::learn_cmd::load(lessons)?;
    let extra = lessons.iter().filter(|l| !l.builtin).count();
    let files = scenario_arg::read_files(&file, &text)?;
    let current = pathproof_web::Current::load_with(&file, &text, &files)
        .map_err(|e| InputError(diagnostics::load_error(&e)))?;
    let name = current.base.name.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| InputError(format!("error: cannot start the server: {e}\n")))?;
    rt.block_on(async move {
        let listener = pathproof_web::bind(port).await.map_err(|e| {
            InputError(format!(
                "error: cannot listen on 127.0.0.1:{port}: {e}\n  help: choose another port with --port N (0 picks a free one)\n"
            ))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| InputError(format!("error: {e}\n")))?;
        println!("http://{addr}");
        eprintln!("pathproof serve: scenario `{name}` from {file}; Ctrl-C stops");
        if extra > 0 {
            eprintln!("pathproof serve: {extra} lesson(s) from --lessons beside the built-in ones");
        }
        let _ = std::io::stdout().flush();
        pathproof_web::run(
            listener,
            pathproof_web::AppState::new(current).with_lessons(lessons),
        )
            .await
            .map_err(|e| InputError(format!("error: the server stopped: {e}\n")))
    })
}
